"""The Debian package (CONTRACT §12 "Packages", issue 19): packaging/build-deb.sh — the script
`make deb` runs — builds it from TIDEGATE_BIN into a temp dir; dpkg-deb shows its files, modes,
control fields and conffiles; systemd-analyze verifies the units; dpkg installs it under a temp
root (--root, maintainer scripts outside a chroot with DPKG_ROOT set), where the postinst makes
the passwords and the certificate; the PACKAGED binary's check-config accepts the packaged
gateway.yaml and intake.yaml; remove keeps the configuration and the data, purge removes them.

Nothing here touches this machine's /etc, /var or systemd: the install runs with
TIDEGATE_USER=nobody (no `tidegate` user needed; adduser and systemd are left out under a root).
"""
import os
import re
import shutil
import stat
import subprocess

import pytest

from harness import BIN

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(SOURCE, "packaging", "build-deb.sh")
UNITS = ("tidegate.service", "tidegate-intake.service")
OWNER, GROUP = "nobody", "nogroup"


def run(*args, env=None, timeout=120):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    # zstd: xz takes minutes on the ASan build's binary (CI runs this file with both builds).
    r = run(SCRIPT, BIN, str(out), env={"TIDEGATE_DEB_COMPRESSION": "zstd"}, timeout=300)
    path = r.stdout.strip()
    assert os.listdir(out) == [os.path.basename(path)]
    return path


@pytest.fixture(scope="module")
def tree(deb, tmp_path_factory):
    root = tmp_path_factory.mktemp("x")
    run("dpkg-deb", "-x", deb, str(root))
    run("dpkg-deb", "-e", deb, str(root / "DEBIAN"))
    return root


def test_name_and_control_fields(deb):
    with open(os.path.join(os.path.dirname(BIN), "VERSION")) as f:
        version = f.read().strip()
    arch = run("dpkg", "--print-architecture").stdout.strip()
    assert os.path.basename(deb) == f"tidegate_{version}_{arch}.deb"
    fields = {k: run("dpkg-deb", "-f", deb, k).stdout.strip()
              for k in ("Package", "Version", "Architecture", "Depends", "Section")}
    assert fields["Package"] == "tidegate"
    assert fields["Version"] == version
    assert fields["Architecture"] == arch
    assert fields["Section"] == "mail"
    depends = [d.strip().split(" ")[0] for d in fields["Depends"].split(",")]
    # What the binary links (mapped to packages) and what the postinst runs.
    for package in ("libc6", "libssl3", "libstdc++6", "libyaml-cpp0.7", "libsqlite3-0",
                    "adduser", "openssl"):
        assert package in depends, fields["Depends"]
    # Every Depends is an installed package here (where the binary runs).
    for package in depends:
        run("dpkg-query", "-W", package)


def test_contents_and_modes(deb):
    listing = {}
    for line in run("dpkg-deb", "-c", deb).stdout.splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        listing[path.removeprefix(".")] = (mode, owner)
    expected = {
        "/usr/bin/tidegate": "-rwxr-xr-x",
        "/lib/systemd/system/tidegate.service": "-rw-r--r--",
        "/lib/systemd/system/tidegate-intake.service": "-rw-r--r--",
        "/etc/tidegate/gateway.yaml": "-rw-r--r--",
        "/etc/tidegate/intake.yaml": "-rw-r--r--",
        "/var/lib/tidegate/": "drwxr-xr-x",
    }
    for path, mode in expected.items():
        assert listing.get(path, (None,))[0] == mode, (path, listing.get(path))
    assert {owner for _mode, owner in listing.values()} == {"root/root"}
    # Secrets are made per machine by the postinst, never shipped.
    assert not [p for p in listing if "password" in p or p.endswith((".key", ".crt"))]


def test_control_files(tree):
    control = tree / "DEBIAN"
    assert (control / "conffiles").read_text().split() == [
        "/etc/tidegate/gateway.yaml", "/etc/tidegate/intake.yaml"]
    for conffile in (control / "conffiles").read_text().split():
        assert (tree / conffile.lstrip("/")).is_file(), conffile
    for script in ("postinst", "prerm", "postrm"):
        mode = (control / script).stat().st_mode
        assert stat.S_IMODE(mode) == 0o755, script
        run("sh", "-n", str(control / script))
    # md5sums names every shipped file but the conffiles (dpkg keeps their sums in its status).
    sums = dict(reversed(line.split("  ", 1))
                for line in (control / "md5sums").read_text().splitlines())
    assert "usr/bin/tidegate" in sums and "lib/systemd/system/tidegate.service" in sums
    assert not any(p.startswith("etc/") for p in sums)


def test_binary_is_stripped_and_runs(tree):
    binary = tree / "usr/bin/tidegate"
    sections = run("readelf", "-S", "-W", str(binary)).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections
    assert "check-config" in run(str(binary), "--help").stdout


def unit_directives(path):
    """{key: [values]} of the [Service] section (systemd allows a key more than once)."""
    directives, section = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = line.partition("=")
        directives.setdefault((section, key), []).append(value)
    return directives


@pytest.mark.parametrize("unit", UNITS)
def test_units_directives(tree, unit):
    d = unit_directives(tree / "lib/systemd/system" / unit)
    s = lambda key: d.get(("[Service]", key), [])  # noqa: E731
    assert s("User") == ["tidegate"]
    assert s("ProtectSystem") == ["strict"]
    assert "/var/lib/tidegate" in s("ReadWritePaths")
    assert s("NoNewPrivileges") == ["yes"]
    assert s("CapabilityBoundingSet") == ["CAP_NET_BIND_SERVICE"]
    assert s("AmbientCapabilities") == ["CAP_NET_BIND_SERVICE"]
    for key in ("PrivateTmp", "ProtectHome", "ProtectKernelTunables", "ProtectKernelModules",
                "ProtectControlGroups"):
        assert s(key) == ["yes"], key
    assert set(s("RestrictAddressFamilies")[0].split()) >= {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert s("Restart") == ["on-failure"]
    assert d[("[Install]", "WantedBy")] == ["multi-user.target"]
    if unit == "tidegate.service":
        assert s("ExecStart") == ["/usr/bin/tidegate -c /etc/tidegate/gateway.yaml serve"]
        # The gateway reloads on SIGHUP (CONTRACT §2) and commits Web UI/CLI changes to its file.
        assert s("ExecReload")[-1] == "/bin/kill -HUP $MAINPID"
        assert "/etc/tidegate" in s("ReadWritePaths")
    else:
        assert s("ExecStart") == ["/usr/bin/tidegate -c /etc/tidegate/intake.yaml intake"]
        assert s("ExecReload") == []  # the intake does not handle SIGHUP
        assert s("ReadWritePaths") == ["/var/lib/tidegate"]


def test_units_verify(tree, tmp_path):
    """systemd-analyze checks every directive name and value (it needs no running systemd); the
    units' commands point at the extracted binary, as it must exist."""
    copies = []
    for unit in UNITS:
        text = (tree / "lib/systemd/system" / unit).read_text()
        copy = tmp_path / unit
        copy.write_text(text.replace("/usr/bin/tidegate", str(tree / "usr/bin/tidegate")))
        copies.append(str(copy))
    r = run("systemd-analyze", "verify", "--man=no", *copies)
    assert r.stderr == "", r.stderr  # an unknown or misspelt key is only a warning
    for copy in copies:
        r = run("systemd-analyze", "security", "--offline=true", "--threshold=20", copy)
        exposure = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        assert exposure and float(exposure.group(1)) <= 2.0, r.stdout[-300:]


def dpkg_root(root, *args):
    return run("dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
               "--force-not-root", "--log=/dev/null", *args,
               env={"TIDEGATE_USER": OWNER}, timeout=120)


def owner_mode(path):
    st = os.stat(path)
    return (run("stat", "-c", "%U:%G", str(path)).stdout.strip(), stat.S_IMODE(st.st_mode))


def check_config_in(root, name, tmp_path):
    """The PACKAGED binary on the packaged file, its absolute paths moved under `root`."""
    text = (root / "etc/tidegate" / name).read_text()
    moved = text.replace("/etc/tidegate/", f"{root}/etc/tidegate/").replace(
        "/var/lib/tidegate", f"{root}/var/lib/tidegate")
    # Every absolute path the file names is one the package or its postinst provides.
    values = "\n".join(line.split("#", 1)[0] for line in moved.splitlines())
    for path in re.findall(r"(?<![\w.])/[\w./-]+", values):
        assert path.startswith(str(root)), (name, path)
    copy = tmp_path / name
    copy.write_text(moved)
    return subprocess.run([str(root / "usr/bin/tidegate"), "-c", str(copy), "check-config"],
                          capture_output=True, text=True, timeout=60)


def test_install_check_config_remove_purge(deb, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("dpkg --root installs files owned by root: needs root (CI runs as root)")
    root = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"):
        (root / d).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    r = dpkg_root(root, "--install", deb)
    assert "created a self-signed certificate" in r.stdout, r.stdout
    status = (root / "var/lib/dpkg/status").read_text()
    assert "Status: install ok installed" in status
    assert re.search(r"Conffiles:\n /etc/tidegate/gateway.yaml [0-9a-f]{32}\n"
                     r" /etc/tidegate/intake.yaml [0-9a-f]{32}\n", status), status

    conf = root / "etc/tidegate"
    assert owner_mode(conf / "admin.password") == (f"{OWNER}:{GROUP}", 0o640)
    assert owner_mode(conf / "intake.password") == (f"{OWNER}:{GROUP}", 0o640)
    assert owner_mode(conf / "tls/tidegate.key") == (f"{OWNER}:{GROUP}", 0o600)
    assert owner_mode(conf / "tls/tidegate.crt")[0] == f"{OWNER}:{GROUP}"
    assert owner_mode(conf) == (f"root:{GROUP}", 0o775)
    assert owner_mode(root / "var/lib/tidegate") == (f"{OWNER}:{GROUP}", 0o750)
    password = (conf / "admin.password").read_text()
    assert re.fullmatch(r"[A-Za-z0-9+/=]{20,}\n", password)
    subject = run("openssl", "x509", "-in", str(conf / "tls/tidegate.crt"), "-noout",
                  "-subject", "-ext", "subjectAltName").stdout
    assert "CN = " in subject and "DNS:" in subject
    run("openssl", "pkey", "-in", str(conf / "tls/tidegate.key"), "-noout")

    for name in ("gateway.yaml", "intake.yaml"):
        r = check_config_in(root, name, tmp_path)
        assert r.returncode == 0 and r.stdout.strip().endswith(": ok"), (name, r.stdout, r.stderr)

    # A reconfigure keeps what exists: the passwords and the key are made only when absent.
    dpkg_root(root, "--install", deb)
    assert (conf / "admin.password").read_text() == password

    # remove: the binary and units go; the configuration, secrets and data stay.
    (root / "var/lib/tidegate/spool").mkdir()
    dpkg_root(root, "--remove", "tidegate")
    assert not (root / "usr/bin/tidegate").exists()
    assert not (root / "lib/systemd/system/tidegate.service").exists()
    assert (conf / "gateway.yaml").exists() and (conf / "admin.password").exists()
    assert (root / "var/lib/tidegate/spool").is_dir()
    # purge: all of it.
    dpkg_root(root, "--purge", "tidegate")
    assert not (root / "var/lib/tidegate").exists()
    assert not conf.exists(), list(conf.rglob("*"))
