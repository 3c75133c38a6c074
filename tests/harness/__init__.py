"""Real-Apache test harness for mod_wsgi_rs (see apache.py)."""
