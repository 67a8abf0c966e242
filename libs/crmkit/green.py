"""Cooperative I/O for service processes: call `patch()` first thing in a service's
`__main__`, before anything imports sockets or psycopg2. Without psycogreen one slow
query would stall every worker of the process."""


def patch() -> None:
    import eventlet  # noqa: PLC0415
    eventlet.monkey_patch()
    from psycogreen.eventlet import patch_psycopg  # noqa: PLC0415
    patch_psycopg()
