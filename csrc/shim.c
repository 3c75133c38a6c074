/* C shim for the httpd and APR macros bindgen cannot express.
 * See shim.h. Nothing here allocates or keeps state. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "apr_buckets.h"
#include "shim.h"

void rs_log_error(const char *file, int line, int module_index, int level,
                  apr_status_t status, const server_rec *s, const char *msg)
{
    ap_log_error_(file, line, module_index, level, status, s, "%s", msg);
}

void rs_log_rerror(const char *file, int line, int module_index, int level,
                   apr_status_t status, const request_rec *r, const char *msg)
{
    ap_log_rerror_(file, line, module_index, level, status, r, "%s", msg);
}

int rs_log_server_enabled(const server_rec *s, int module_index, int level)
{
    if (s == NULL)
        return level <= APLOG_NOTICE;
    return APLOG_MODULE_IS_LEVEL(s, module_index, level);
}

int rs_log_request_enabled(const request_rec *r, int module_index, int level)
{
    return APLOG_R_MODULE_IS_LEVEL(r, module_index, level);
}

void rs_brigade_insert_tail(apr_bucket_brigade *bb, apr_bucket *b)
{
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

int rs_brigade_empty(apr_bucket_brigade *bb)
{
    return APR_BRIGADE_EMPTY(bb);
}

apr_bucket *rs_brigade_first(apr_bucket_brigade *bb)
{
    return APR_BRIGADE_FIRST(bb);
}

apr_bucket *rs_brigade_sentinel(apr_bucket_brigade *bb)
{
    return APR_BRIGADE_SENTINEL(bb);
}

apr_bucket *rs_bucket_next(apr_bucket *b)
{
    return APR_BUCKET_NEXT(b);
}

int rs_bucket_is_eos(apr_bucket *b)
{
    return APR_BUCKET_IS_EOS(b);
}

int rs_bucket_is_metadata(apr_bucket *b)
{
    return APR_BUCKET_IS_METADATA(b);
}

apr_status_t rs_bucket_read(apr_bucket *b, const char **data, apr_size_t *len,
                            int block)
{
    return apr_bucket_read(b, data, len, block ? APR_BLOCK_READ : APR_NONBLOCK_READ);
}

void rs_bucket_delete(apr_bucket *b)
{
    apr_bucket_delete(b);
}

void rs_brigade_append_transient(apr_bucket_brigade *bb, const char *data,
                                 apr_size_t len)
{
    apr_bucket *b = apr_bucket_transient_create(data, len, bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void rs_brigade_append_flush(apr_bucket_brigade *bb)
{
    apr_bucket *b = apr_bucket_flush_create(bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void rs_brigade_append_eos(apr_bucket_brigade *bb)
{
    apr_bucket *b = apr_bucket_eos_create(bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void rs_brigade_append_error(apr_bucket_brigade *bb, int status, apr_pool_t *p)
{
    apr_bucket *b = ap_bucket_error_create(status, NULL, p, bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
    b = apr_bucket_eos_create(bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void rs_brigade_append_file(apr_bucket_brigade *bb, apr_file_t *f,
                            apr_off_t offset, apr_off_t len, apr_pool_t *p)
{
    const apr_off_t max_bucket = (apr_off_t)1 << 30;
    while (len > 0) {
        apr_off_t n = len > max_bucket ? max_bucket : len;
        apr_bucket *b = apr_bucket_file_create(f, offset, (apr_size_t)n, p,
                                               bb->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, b);
        offset += n;
        len -= n;
    }
}

void *rs_get_module_config(const ap_conf_vector_t *cv, const module *m)
{
    return ap_get_module_config(cv, m);
}

void rs_set_module_config(ap_conf_vector_t *cv, const module *m, void *val)
{
    ap_set_module_config(cv, m, val);
}

int rs_accept_path_info(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    return d->accept_path_info;
}

int rs_allow_options(request_rec *r)
{
    return ap_allow_options(r);
}

#include "unixd.h"
#include "ap_listen.h"

void rs_unixd_ids(unsigned int *uid, unsigned int *gid)
{
    *uid = (unsigned int)ap_unixd_config.user_id;
    *gid = (unsigned int)ap_unixd_config.group_id;
}

const char *rs_unixd_user_name(void)
{
    return ap_unixd_config.user_name;
}

void rs_close_listeners(void)
{
    ap_close_listeners();
}

ap_conf_vector_t **rs_server_sections(server_rec *s, int which, int *count)
{
    core_server_config *c = ap_get_core_module_config(s->module_config);
    apr_array_header_t *a = which == 0 ? c->sec_dir : c->sec_url;
    if (a == NULL) {
        *count = 0;
        return NULL;
    }
    *count = a->nelts;
    return (ap_conf_vector_t **)a->elts;
}
