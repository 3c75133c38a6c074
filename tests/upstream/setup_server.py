#!/usr/bin/env python3
"""Writes the server root that upstream mod_wsgi's ``scripts/run-tests.sh``
gets from ``mod_wsgi-express setup-server``, without mod_wsgi-express.

run-tests.sh calls setup-server with a fixed set of arguments (the
``tests/hello.wsgi`` app, ``--server-name localhost``, an HTTPS port with a
throwaway certificate, ``--ssl-environment``, ``--log-level info`` and an
include file that mounts each test). For that one set of arguments,
setup-server's configuration resolves to the directives written below: the
same modules, the same daemon process group with the same options (quoted
as mod_wsgi-express quotes them), the same virtual hosts, the same
``handler.wsgi`` mount through mod_rewrite. The sizes that mod_wsgi-express
derives from ``--processes``/``--threads`` are derived here the same way
(its defaults: one process of 5 threads).

Usage: setup_server.py --server-root DIR --module SO --project-dir DIR
           --include-file FILE --cert FILE --key FILE [--port N] [--https-port N]

The only intended difference is ``LoadModule wsgi_module``, which names the
module under test. Options a module does not know are dropped by the caller
(tests/upstream/run), which lists each drop in its report.
"""

from __future__ import annotations

import argparse
import locale
import os
import pwd
import sys

MODULES_DIR = "/usr/lib/apache2/modules"
HOST = "localhost"

# Base modules, loaded unless built in (name, file).
MODULES = [
    ("access_compat_module", "mod_access_compat.so"),
    ("unixd_module", "mod_unixd.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_host_module", "mod_authz_host.so"),
    ("mime_module", "mod_mime.so"),
    ("rewrite_module", "mod_rewrite.so"),
    ("alias_module", "mod_alias.so"),
    ("dir_module", "mod_dir.so"),
    ("env_module", "mod_env.so"),
    ("headers_module", "mod_headers.so"),
    ("filter_module", "mod_filter.so"),
    ("reqtimeout_module", "mod_reqtimeout.so"),
]

# mod_wsgi-express defaults for the options run-tests.sh does not pass.
THREADS = 5
PROCESSES = 1
DAEMON_TIMEOUTS = [
    ("listen-backlog", 100),
    ("queue-timeout", 45),
    ("socket-timeout", 60),
    ("connect-timeout", 15),
    ("request-timeout", 60),
    ("interrupt-timeout", 0),
    ("inactivity-timeout", 0),
    ("startup-timeout", 15),
    ("deadlock-timeout", 60),
    ("graceful-timeout", 15),
    ("eviction-timeout", 0),
    ("restart-interval", 0),
    ("cpu-time-limit", 0),
    ("shutdown-timeout", 5),
    ("send-buffer-size", 0),
    ("receive-buffer-size", 0),
    ("response-buffer-size", 0),
    ("response-socket-timeout", 0),
    ("response-flush-delay", 5),
    ("server-metrics", "Off"),
]


def express_locale() -> str:
    """The LANG/LC_ALL value mod_wsgi-express picks when none is given:
    the current locale, or a UTF-8 one when that is C/POSIX."""
    lang, enc = locale.getlocale()
    name = "C" if lang is None else (lang + "." + enc if enc else lang)
    if name.upper() not in ("C", "POSIX"):
        return name
    saved = locale.setlocale(locale.LC_ALL)
    try:
        for candidate in ("en_US.UTF-8", "C.UTF-8"):
            try:
                locale.setlocale(locale.LC_ALL, candidate)
                return candidate
            except locale.Error:
                continue
        return name
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def mpm_sizes(processes: int, threads: int) -> dict:
    """Worker/event MPM sizes as mod_wsgi-express computes them for
    daemon mode: capacity 10 + max(10, 1.5 x daemon threads), split into
    children of at most 20 threads."""
    clients = 10 + max(10, int(1.5 * processes * threads))
    per_child = int(clients / (int(clients / 20) + 1)) if clients > 20 else 10
    limit = -(-clients // per_child)
    return {
        "ServerLimit": limit,
        "ThreadLimit": per_child,
        "StartServers": max(1, int(0.2 * limit)),
        "MaxClients": limit * per_child,
        "MinSpareThreads": max(per_child, int(0.2 * limit) * per_child),
        "MaxSpareThreads": max(per_child, int(0.6 * limit) * per_child),
        "ThreadsPerChild": per_child,
    }


def run_user() -> str:
    """mod_wsgi-express runs as the invoking user, or www-data as root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    return "www-data"


def daemon_line(group: str, a, lang: str) -> str:
    """The WSGIDaemonProcess line, options quoted as mod_wsgi-express
    writes them (written on one line: Apache joins continuation lines)."""
    opts = [
        "display-name='(wsgi:%s:%s:%d)'" % (HOST, a.port, os.getuid()),
        "home='%s'" % a.project_dir,
        "threads=%d" % THREADS,
        "maximum-requests=0",
        "python-path=''",
        "python-eggs='%s/python-eggs'" % a.server_root,
        "lang='%s'" % lang,
        "locale='%s'" % lang,
    ]
    opts += ["%s=%s" % kv for kv in DAEMON_TIMEOUTS]
    return "WSGIDaemonProcess %s %s" % (group, " ".join(opts))


def tls_host(a, name: str, extra: list) -> list:
    return [
        "<VirtualHost *:%d>" % a.https_port if name != "_wsgi_"
        else "<VirtualHost _default_:%d>" % a.https_port,
        "ServerName %s" % name,
        *extra,
        "SSLEngine On",
        "SSLCertificateFile %s" % a.cert,
        "SSLCertificateKeyFile %s" % a.key,
        "</VirtualHost>",
    ]


def render(a) -> str:
    root = a.server_root
    htdocs = os.path.join(root, "htdocs")
    group = "'%s:%d'" % (HOST, a.port)
    lang = express_locale()
    out = [
        "# Written by mod_wsgi_rs tests/upstream/setup_server.py: the configuration",
        "# mod_wsgi-express setup-server produces for scripts/run-tests.sh.",
        "Define MOD_WSGI_MODULES_DIRECTORY %s" % MODULES_DIR,
        "ServerName %s" % HOST,
        "ServerRoot '%s'" % root,
        "PidFile '%s/httpd.pid'" % root,
        "DefaultRuntimeDir '%s'" % root,
        "ServerTokens ProductOnly",
        "ServerSignature Off",
        "User %s" % run_user(),
        "Group %s" % run_user(),
        "Listen %d" % a.port,
        "<IfModule !mpm_event_module>",
        "LoadModule mpm_event_module '%s/mod_mpm_event.so'" % MODULES_DIR,
        "</IfModule>",
    ]
    for name, so in MODULES:
        out += ["<IfModule !%s>" % name, "LoadModule %s '%s/%s'" % (name, MODULES_DIR, so),
                "</IfModule>"]
    out += [
        "LoadModule wsgi_module '%s'" % a.module,
        "TypesConfig '/etc/mime.types'",
        "HostnameLookups Off",
        "MaxMemFree 64",
        "Timeout 60",
        "ListenBacklog 500",
        "RequestReadTimeout header=15-30,MinRate=500 body=15,MinRate=500",
        "LimitRequestBody 10485760",
        "<Directory />",
        "    AllowOverride None",
        "    Require all denied",
        "</Directory>",
        "WSGIPythonHome '%s'" % sys.base_prefix,
        "WSGIVerboseDebugging 'Off'",
        "WSGISocketPrefix %s/wsgi" % root,
        "WSGISocketRotation Off",
        "WSGIDestroyInterpreter On",
        "WSGIRestrictEmbedded On",
        daemon_line(group, a, lang),
        "WSGICallableObject 'application'",
        "WSGIPassAuthorization On",
        "WSGIMapHEADToGET Auto",
        "WSGIServerMetrics Off",
        "KeepAlive On",
        "KeepAliveTimeout 2",
        "ErrorLog \"%s/error_log\"" % root,
        "LogLevel info",
        "<IfModule !ssl_module>",
        "LoadModule ssl_module %s/mod_ssl.so" % MODULES_DIR,
        "</IfModule>",
        "<IfModule mpm_event_module>",
    ]
    out += ["%s %s" % kv for kv in mpm_sizes(PROCESSES, THREADS).items()]
    out += [
        "MaxRequestsPerChild 0",
        "MaxKeepAliveRequests 0",
        "ThreadStackSize 262144",
        "</IfModule>",
        # --server-name: a catch-all default host that admits nobody, and
        # the named host (the one every request of the suite asks for).
        "<VirtualHost _default_:%d>" % a.port,
        "ServerName _wsgi_",
        "<Location />",
        "Require all denied",
        "</Location>",
        "</VirtualHost>",
        "<VirtualHost *:%d>" % a.port,
        "ServerName %s" % HOST,
        "</VirtualHost>",
        "Listen %d" % a.https_port,
    ]
    out += tls_host(a, "_wsgi_", ["<Location />", "Require all denied", "</Location>"])
    out += tls_host(a, HOST, ["SSLOptions +StdEnvVars"])
    out += [
        "DocumentRoot '%s'" % htdocs,
        "AccessFileName .htaccess",
        "<Directory '%s'>" % root,
        "    AllowOverride None",
        "<Files handler.wsgi>",
        "    Require all granted",
        "</Files>",
        "</Directory>",
        "<Directory '%s'>" % htdocs,
        "    AllowOverride None",
        "    RewriteEngine On",
        "    RewriteOptions InheritDownBefore",
        "    Include %s/rewrite.conf" % root,
        "    Require all granted",
        "</Directory>",
        "<Directory '%s/'>" % htdocs,
        "    RewriteCond %{REQUEST_FILENAME} !-f",
        "    RewriteRule .* - [H=wsgi-handler]",
        "</Directory>",
        "WSGIHandlerScript wsgi-handler '%s/handler.wsgi' process-group=%s "
        "application-group=%%{GLOBAL}" % (root, group),
        "WSGIImportScript '%s/handler.wsgi' process-group=%s application-group=%%{GLOBAL}"
        % (root, group),
        # The client-certificate block is empty without --ssl-ca-certificate-file.
        "Include '%s'" % a.include_file,
        "",
    ]
    return "\n".join(out)


def handler_script(app: str) -> str:
    """handler.wsgi: loads the application script as mod_wsgi-express's
    handler does (as a module named after the script, callable
    `application`)."""
    return (
        "import importlib.util, os, sys\n"
        "_path = %r\n"
        "_spec = importlib.util.spec_from_file_location('__wsgi_app__', _path)\n"
        "_module = importlib.util.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(_module)\n"
        "application = _module.application\n" % app
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server-root", required=True)
    p.add_argument("--module", required=True)
    p.add_argument("--project-dir", required=True)
    p.add_argument("--include-file", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--port", type=int, default=9876)
    p.add_argument("--https-port", type=int, default=9877)
    a = p.parse_args()
    root = a.server_root
    for d in (root, os.path.join(root, "htdocs"), os.path.join(root, "python-eggs")):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(run_user())
        os.chown(os.path.join(root, "python-eggs"), pw.pw_uid, pw.pw_gid)
    open(os.path.join(root, "rewrite.conf"), "w").close()
    with open(os.path.join(root, "handler.wsgi"), "w") as f:
        f.write(handler_script(os.path.join(a.project_dir, "tests", "hello.wsgi")))
    with open(os.path.join(root, "httpd.conf"), "w") as f:
        f.write(render(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
