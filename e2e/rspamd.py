"""A private rspamd (Debian's package) for tests and benchmarks: its own config overrides,
database and log folders, one normal worker on a loopback port, DNS pointed at a local
server, so it never reaches the network. `Rspamd(dns_port).url` is what MOAT_RSPAMD_URL takes."""

import os
import shutil
import subprocess
import tempfile
import time

from mta_test import free_port, port_open, wait_for


class Rspamd:
    def __init__(self, dns_port):
        self.dir = tempfile.mkdtemp(prefix="moat-rspamd-")
        self.port, controller, proxy = free_port(), free_port(), free_port()
        for sub in ("override.d", "local.d", "db", "log", "run"):
            os.makedirs(f"{self.dir}/{sub}")
        files = {
            "worker-normal.inc": f'bind_socket = "127.0.0.1:{self.port}";\ncount = 1;\n',
            "worker-controller.inc": f'bind_socket = "127.0.0.1:{controller}";\ncount = 1;\n',
            "worker-proxy.inc": f'bind_socket = "127.0.0.1:{proxy}";\ncount = 1;\n',
            "logging.inc": f'type = "file";\nfilename = "{self.dir}/log/rspamd.log";\nlevel = "warning";\n',
            "options.inc": f'dns {{ nameserver = ["127.0.0.1:{dns_port}"]; timeout = 1s; retransmits = 1; }}\n'
                           f'pidfile = "{self.dir}/run/rspamd.pid";\n',
        }
        for name, text in files.items():
            with open(f"{self.dir}/override.d/{name}", "w") as f:
                f.write(text)
        subprocess.run(["chown", "-R", "_rspamd:_rspamd", self.dir], check=True)
        subprocess.run(["rspamd", "-u", "_rspamd", "-g", "_rspamd", "--var", f"LOCAL_CONFDIR={self.dir}",
                        "--var", f"DBDIR={self.dir}/db", "--var", f"RUNDIR={self.dir}/run",
                        "--var", f"LOGDIR={self.dir}/log", "-p", f"{self.dir}/run/rspamd.pid"], check=True)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(lambda: port_open(self.port), timeout=60, what=f"rspamd up (log: {self.dir}/log/rspamd.log)")

    def stop(self):
        try:
            with open(f"{self.dir}/run/rspamd.pid") as f:
                os.kill(int(f.read().strip()), 15)
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
        shutil.rmtree(self.dir, ignore_errors=True)
