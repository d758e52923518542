"""A python-fido2 CtapHidConnection over Keysmith's UDP transport: one
64-byte CTAPHID report per datagram. python-fido2 does its own CTAPHID
framing on top, so the virtual key is exercised by an independent host
implementation."""

import os
import socket
import subprocess
import tempfile
from pathlib import Path

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor

REPORT = 64


class UdpCtapHidConnection(CtapHidConnection):
    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))

    def read_packet(self) -> bytes:
        data = self.sock.recv(REPORT + 1)
        assert len(data) == REPORT, f"expected one {REPORT}-byte report, got {len(data)}"
        return data

    def write_packet(self, data: bytes) -> None:
        assert len(data) == REPORT
        self.sock.send(data)

    def close(self) -> None:
        self.sock.close()


def open_device(address: str) -> CtapHidDevice:
    """`address` is `udp:HOST:PORT` as `keysmith virtual-key` prints it."""
    host, port = address.removeprefix("udp:").rsplit(":", 1)
    descriptor = HidDescriptor(address, 0, 0, REPORT, REPORT, "Keysmith virtual key", None)
    return CtapHidDevice(descriptor, UdpCtapHidConnection(host, int(port)))


def keysmith_binary() -> str:
    exe = os.environ.get("KEYSMITH_BIN")
    if exe:
        return exe
    root = Path(__file__).resolve().parents[2]
    return str(root / "target" / "debug" / "keysmith")


class VirtualKey:
    """A `keysmith virtual-key` process on a free UDP port."""

    def __init__(self, *extra: str):
        self.dir = tempfile.TemporaryDirectory()
        self.state = Path(self.dir.name) / "key.json"
        self.extra = list(extra)
        self.proc = None
        self.address = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [keysmith_binary(), "virtual-key", "--listen", "udp:127.0.0.1:0",
             "--state", str(self.state), "--reset-window", "0", *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("udp:"):
            raise RuntimeError(f"virtual key did not start: {line!r} {self.proc.stderr.read()}")
        self.address = line

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def power_cycle(self):
        self.stop()
        self.start()

    def root_pem(self) -> bytes:
        out = subprocess.run(
            [keysmith_binary(), "virtual-key", "--state", str(self.state), "--print-attestation-root"],
            check=True, capture_output=True,
        )
        return out.stdout

    def device(self) -> CtapHidDevice:
        return open_device(self.address)

    def close(self):
        self.stop()
        self.dir.cleanup()
