#!/usr/bin/env bash
# run-demo.sh — `make run`: the local demo on loopback. Generates (once) a CA and certificates under
# run/ (git-ignored), then starts a next-hop mailbox and the gateway (examples/gateway.yaml), and
# prints where to send mail. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/run
BIN=$ROOT/build/tidegate
PY=/usr/bin/python3
mkdir -p "$RUN/tls" "$RUN/gateway" "$RUN/intake"

cert() {  # cert NAME CN SAN
  local name=$1 cn=$2 san=$3
  [ -f "$RUN/tls/$name.crt" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$RUN/tls/$name.key" \
    -out "$RUN/tls/$name.csr" -subj "/CN=$cn" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" \
    > "$RUN/tls/$name.ext"
  openssl x509 -req -in "$RUN/tls/$name.csr" -CA "$RUN/tls/ca.crt" -CAkey "$RUN/tls/ca.key" \
    -CAcreateserial -out "$RUN/tls/$name.crt" -days 825 -extfile "$RUN/tls/$name.ext" 2>/dev/null
}
if [ ! -f "$RUN/tls/ca.crt" ]; then
  echo "Generating a local CA and certificates in run/tls/ ..."
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$RUN/tls/ca.key" \
    -out "$RUN/tls/ca.crt" -days 825 -subj "/CN=tidegate demo CA" 2>/dev/null
fi
cert gateway gw.example.com "DNS:gw.example.com,DNS:localhost,IP:127.0.0.1"
cert intake intake.example.net "DNS:intake.example.net,DNS:localhost,IP:127.0.0.1"
for f in admin intake; do
  [ -f "$RUN/$f.password" ] || (umask 077; openssl rand -hex 12 > "$RUN/$f.password")
done

PIDS=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping ..."
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

"$BIN" -c examples/gateway.yaml check-config >/dev/null
$PY -m aiosmtpd -n -l 127.0.0.1:2626 -c aiosmtpd.handlers.Mailbox "$RUN/mailbox" &
PIDS+=($!)
"$BIN" -c examples/gateway.yaml serve &
PIDS+=($!)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/2525) 2>/dev/null && break
  sleep 0.1
done

cat <<TXT

tidegate demo is running (Ctrl-C stops it):
  gateway SMTP     127.0.0.1:2525 (STARTTLS, certificate from run/tls/ca.crt)
  next-hop mailbox 127.0.0.1:2626 → run/mailbox/ (Maildir)
  mail log         run/gateway/mail_logs/mail.current

Send a message:
  swaks --server 127.0.0.1:2525 --from alice@sender.example --to bob@example.com -tls

Look at the spool while it is stopped:  build/tidegate -c examples/gateway.yaml spool-dump
TXT
wait -n "${PIDS[@]}"
