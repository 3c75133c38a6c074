# Sourced by bench/profile.sh and bench/profile-tree.sh: the httpd.conf of
# a profiled `apache2 -X` (event MPM, 4 threads, keep-alive, the profile app
# at /).
#
#   profile_conf ROOT PORT MODULE_SO APPS_DIR [EXTRA_LINES] [PROCESS_GROUP] > ROOT/httpd.conf
profile_conf() {
    local R=$1 port=$2 so=$3 apps=$4 extra=${5:-} group=${6:-%\{GLOBAL\}}
    local M=/usr/lib/apache2/modules
    cat <<CONF
ServerRoot $R
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile $R/run/httpd.pid
ErrorLog $R/run/error.log
LogLevel warn
Mutex file:$R/run default
DefaultRuntimeDir $R/run
LoadModule mpm_event_module $M/mod_mpm_event.so
StartServers 1
ServerLimit 1
ThreadsPerChild 4
ThreadLimit 4
MaxRequestWorkers 4
MinSpareThreads 1
MaxSpareThreads 4
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule mime_module $M/mod_mime.so
LoadModule alias_module $M/mod_alias.so
TypesConfig /etc/mime.types
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
<Directory />
  Require all granted
</Directory>
LoadModule wsgi_module $so
WSGIPythonPath $apps
$extra
WSGIApplicationGroup %{GLOBAL}
WSGIScriptAlias / $apps/profile_app.py process-group=$group application-group=%{GLOBAL}
CONF
}
