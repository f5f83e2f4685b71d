"""Running a command on a pseudo-terminal, for the e2e tests of what
`iiadm` draws only when its output is a terminal (progress bars)."""
import os
import pty
import subprocess


def in_pty(args, env):
    """Runs `args` with a pseudo-terminal as stdin, stdout and stderr; returns
    its exit status and everything it wrote to the terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    os.close(master)
    return proc.wait(timeout=60), out.decode(errors="replace")
