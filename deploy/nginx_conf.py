"""Render deploy/nginx.conf for given ports, runnable by an ordinary user from a scratch folder.

    python deploy/nginx_conf.py --listen 127.0.0.1:8080 --apps 8501 8502 --workdir /tmp/gptx-nginx
    nginx -p /tmp/gptx-nginx -c /tmp/gptx-nginx/nginx.conf -e stderr -g "daemon off; pid /tmp/gptx-nginx/nginx.pid;"

The shipped file is the real configuration (port 80, four apps); rendering only swaps the
upstream's server lines and the listen address, and points nginx's temp folders into the work
folder, since Debian's compiled-in ones (/var/lib/nginx) belong to root.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf"
NGINX = "/usr/sbin/nginx"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def render(app_ports: Sequence[int], listen: str, workdir: Path, template: str | None = None) -> str:
    text = TEMPLATE.read_text() if template is None else template
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in app_ports)
    text, upstreams = re.subn(r"(?:^[ \t]*server 127\.0\.0\.1:\d+;\n)+", servers + "\n", text, flags=re.M)
    text, listens = re.subn(r"^([ \t]*)listen [^;]+;", rf"\1listen {listen};", text, flags=re.M)
    if upstreams != 1 or listens != 1:
        raise ValueError("nginx.conf must keep one block of `server 127.0.0.1:PORT;` lines and one `listen` line")
    temp_paths = "".join(f"    {name}_temp_path {workdir / name};\n" for name in TEMP_DIRS)
    return text.replace("http {\n", "http {\n" + temp_paths, 1)


def write(app_ports: Sequence[int], listen: str, workdir: Path) -> Path:
    """The rendered config in ``workdir`` (created, with its temp folders); returns its path."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in TEMP_DIRS:
        (workdir / name).mkdir(exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)  # nginx -p opens logs/error.log before reading -e
    conf = workdir / "nginx.conf"
    conf.write_text(render(app_ports, listen, workdir))
    return conf


def command(workdir: Path) -> list[str]:
    """nginx in the foreground with the config written by ``write``: no daemon, pid in the work folder."""
    conf = workdir / "nginx.conf"
    return [NGINX, "-p", str(workdir), "-c", str(conf), "-e", "stderr", "-g", f"daemon off; pid {workdir}/nginx.pid;"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", required=True, help="address:port or port for nginx, e.g. 8080")
    parser.add_argument("--apps", type=int, nargs="+", required=True, help="the app processes' ports")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch folder for the config and temp files")
    args = parser.parse_args()
    write(args.apps, args.listen, args.workdir)
    print(" ".join(f"'{part}'" if " " in part else part for part in command(args.workdir)))


if __name__ == "__main__":
    main()
