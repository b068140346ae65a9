"""Layer 6, the schedule (``rasd.scheduler``): the APScheduler daemon, one child process per
run, run history and adaptive intervals.  Imports the layers up to ``rasd.replay``."""
