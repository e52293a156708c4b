"""The host the service runs on: its processes, memory, and the secrets in its environment.

processes     the process tree under a pid, and each one's CPU time and resident memory
memory        this process's resident and peak memory, from /proc
environment   FANOUT_PASSWORD and FANOUT_TOKEN taken out of ``os.environ`` at start
"""
