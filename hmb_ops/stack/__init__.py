"""Bringing up the reference environment, in one home: database, seed data, indexes, the tier's
Gunicorn config and the reference app under Gunicorn, torn down again in reverse.

    gunicorn.py     GunicornProcess: any WSGI app under a real Gunicorn master, never leaking a process
    app.py          the reference app as hmb-ops starts it: token key, tier config, GunicornProcess
    environment.py  Environment: database → seed → indexes → app, for a load run (`loadtest`, `capacity`)
    serve.py        `app serve`: the reference app in the foreground until a signal

The Flask app itself lives in hmb_ops.refapp and never imports this package.
"""
