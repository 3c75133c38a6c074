//! `--help` texts, one per subcommand. docs/express.md is the long form.

const TOP: &str = "\
usage: mod_wsgi_rs-express COMMAND [options]

Serve a Python WSGI application with Apache httpd and mod_wsgi_rs.

commands:
  start-server APP    generate a server root and run Apache in the foreground
  setup-server APP    generate a server root with an apachectl wrapper; do not start
  module-config       print the LoadModule line for a system Apache

APP is a WSGI script file (hello.wsgi) or package.module:callable.
Run `mod_wsgi_rs-express COMMAND --help` for the options of a command.
";

const SERVER_OPTIONS: &str = "\
options:
  --host ADDR                 address to listen on (default 127.0.0.1; 0.0.0.0 for all)
  --port N                    port to listen on (default 8000)
  --processes N               Apache child processes (default 1)
  --threads N                 threads per child process (default 5; ignored by prefork)
  --mpm event|worker|prefork  Apache MPM (default event)
  --url-alias URL DIR         serve the static files in DIR at URL (repeatable)
  --application-type script|module
                              how to read APP (default: module if APP contains ':'
                              and is not an existing file, else script)
  --callable-object NAME      the WSGI callable in a script (default application)
  --python-path DIR           add DIR to sys.path (repeatable)
  --python-home DIR           the Python installation or virtualenv (WSGIPythonHome)
  --working-directory DIR     directory the application runs in; also first on
                              sys.path (default: the script's directory, or the
                              current directory for a module)
  --maximum-requests N        restart a child after N connections (default 0: never)
  --reload-on-changes         restart Apache gracefully when a .py/.wsgi file of the
                              application changes (start-server only)
  --log-to-terminal           error log (and access log) to this terminal
  --access-log                write an access log
  --log-level LEVEL           Apache LogLevel (default warn)
  --server-root DIR           where the generated files go
                              (default /tmp/mod_wsgi_rs-express-PORT)
  --module-path FILE          the mod_wsgi_rs module (default: libmod_wsgi_rs.so next
                              to this program, else /usr/lib/apache2/modules/mod_wsgi_rs.so)
  --httpd-executable FILE     Apache binary (default /usr/sbin/apache2)
  --modules-directory DIR     Apache modules (default /usr/lib/apache2/modules)
  --include-file FILE         Include FILE at the end of httpd.conf (repeatable)
  -h, --help                  show this help
";

const MODULE_CONFIG: &str = "\
usage: mod_wsgi_rs-express module-config [--module-path FILE] [--python-home DIR]

Print the LoadModule line (and WSGIPythonHome, if given) to add to a system
Apache's configuration. The module is --module-path, else libmod_wsgi_rs.so next
to this program, else /usr/lib/apache2/modules/mod_wsgi_rs.so.
";

/// The help text of `cmd` (empty: the top level).
pub fn text(cmd: &str) -> String {
    match cmd {
        "start-server" => format!(
            "usage: mod_wsgi_rs-express start-server APP [options]\n\n\
             Write httpd.conf and handler.wsgi into the server root and run Apache in the\n\
             foreground. Ctrl-C stops it. Exit status: 0 after a clean stop, 2 for a bad\n\
             command line, 1 when the port is busy, the application cannot be found or\n\
             Apache fails.\n\n{SERVER_OPTIONS}"
        ),
        "setup-server" => format!(
            "usage: mod_wsgi_rs-express setup-server APP [options]\n\n\
             Write httpd.conf, handler.wsgi and an apachectl wrapper into the server root;\n\
             do not start Apache. Use `SERVER_ROOT/apachectl start|stop|restart|graceful|\n\
             configtest`, or `apachectl start --foreground` under systemd or supervisord.\n\n\
             {SERVER_OPTIONS}"
        ),
        "module-config" => MODULE_CONFIG.to_string(),
        _ => TOP.to_string(),
    }
}
