/* What bindgen cannot express: the APR ring macros and httpd's logging
 * macros. Every function here is a thin, allocation-free wrapper. */
#ifndef MOD_WSGI_RS_SHIM_H
#define MOD_WSGI_RS_SHIM_H

#include "httpd.h"
#include "apr_buckets.h"

/* Logging: the message is always passed through a "%s" format. */
void rs_log_error(const char *file, int line, int module_index, int level,
                  apr_status_t status, const server_rec *s, const char *msg);
void rs_log_rerror(const char *file, int line, int module_index, int level,
                   apr_status_t status, const request_rec *r, const char *msg);
/* Non-zero when a message at `level` for this module would be written. */
int rs_log_server_enabled(const server_rec *s, int module_index, int level);
int rs_log_request_enabled(const request_rec *r, int module_index, int level);

/* Brigades and buckets. */
void rs_brigade_insert_tail(apr_bucket_brigade *bb, apr_bucket *b);
int rs_brigade_empty(apr_bucket_brigade *bb);
apr_bucket *rs_brigade_first(apr_bucket_brigade *bb);
apr_bucket *rs_brigade_sentinel(apr_bucket_brigade *bb);
apr_bucket *rs_bucket_next(apr_bucket *b);
int rs_bucket_is_eos(apr_bucket *b);
int rs_bucket_is_metadata(apr_bucket *b);
apr_status_t rs_bucket_read(apr_bucket *b, const char **data, apr_size_t *len,
                            int block);
void rs_bucket_delete(apr_bucket *b);
/* Appends a transient (copied if set aside) bucket of `len` bytes. */
void rs_brigade_append_transient(apr_bucket_brigade *bb, const char *data,
                                 apr_size_t len);
void rs_brigade_append_flush(apr_bucket_brigade *bb);
void rs_brigade_append_eos(apr_bucket_brigade *bb);
/* An error bucket followed by EOS: the response is cut off (no clean end). */
void rs_brigade_append_error(apr_bucket_brigade *bb, int status, apr_pool_t *p);
/* Appends file buckets for [offset, offset+len), split at 1 GiB. */
void rs_brigade_append_file(apr_bucket_brigade *bb, apr_file_t *f,
                            apr_off_t offset, apr_off_t len, apr_pool_t *p);

/* Module config vectors. */
void *rs_get_module_config(const ap_conf_vector_t *cv, const module *m);
void rs_set_module_config(ap_conf_vector_t *cv, const module *m, void *val);

/* Fields behind httpd's private structures. */
int rs_accept_path_info(request_rec *r);
int rs_allow_options(request_rec *r);

/* Daemon mode: Apache's User/Group (mod_unixd) and the listeners. */
void rs_unixd_ids(unsigned int *uid, unsigned int *gid);
const char *rs_unixd_user_name(void);
void rs_close_listeners(void);

/* The per-directory config vectors of a server's <Directory> (which 0)
 * or <Location> (which 1) sections, and of the server itself. */
ap_conf_vector_t **rs_server_sections(server_rec *s, int which, int *count);

#endif
