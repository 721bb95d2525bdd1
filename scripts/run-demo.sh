#!/usr/bin/env bash
# run-demo.sh — `make run`: the local demo on loopback. Generates (once) a CA and certificates under
# run/ (git-ignored), then starts a DNS server (dnsmasq), the content-security engines rspamd and
# clamd (private configurations and data under run/rspamd/ and run/clamd/, written by
# scripts/engine_configs.py, the same as the e2e tests'; clamd's database is
# scripts/make-test-clamav-db.py's), a next-hop mailbox, the intake (examples/intake.yaml) and the
# gateway (examples/gateway.yaml), and prints where to send mail and where to look. Ctrl-C (or
# SIGTERM) stops everything it started, by PID.
# TIDEGATE_BIN overrides the binary (default build/tidegate).
#
# The ports and the run directory can be moved (README "Try it"; the defaults are what the README
# shows), e.g. to run beside another demo, or from a test (tests/e2e/test_demo_run.py):
#   TIDEGATE_DEMO_RUN_DIR       run/   certificates, passwords, spools, mailbox, logs
#   TIDEGATE_DEMO_SMTP_PORT     2525   the gateway's SMTP listener
#   TIDEGATE_DEMO_MAILBOX_PORT  2626   the next-hop mailbox
#   TIDEGATE_DEMO_INTAKE_PORT   2727   the intake's SMTP listener
#   TIDEGATE_DEMO_ADMIN_PORT    8080   the gateway's admin API and Web UI
#   TIDEGATE_DEMO_CONSOLE_PORT  8081   the intake console
#   TIDEGATE_DEMO_DNS_PORT      5353   dnsmasq (UDP and TCP)
#   TIDEGATE_DEMO_RSPAMD_PORT   2828   rspamd's normal worker (the gateway's anti_spam url)
#   TIDEGATE_DEMO_CLAMD_PORT    2929   clamd (the gateway's anti_virus address)
#   TIDEGATE_DEMO_LDAP_PORT     3389   slapd (recipient validation's LDAP accept query)
# With all defaults the gateway and the intake run examples/gateway.yaml and examples/intake.yaml
# as they are; otherwise from copies written to RUN_DIR/gateway.yaml and RUN_DIR/intake.yaml, in
# which only those ports and ../run/ are replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$(realpath -m "${TIDEGATE_DEMO_RUN_DIR:-$ROOT/run}")
BIN=${TIDEGATE_BIN:-$ROOT/build/tidegate}
PY=/usr/bin/python3
DNSMASQ=/usr/sbin/dnsmasq
SMTP_PORT=${TIDEGATE_DEMO_SMTP_PORT:-2525}
MAILBOX_PORT=${TIDEGATE_DEMO_MAILBOX_PORT:-2626}
INTAKE_PORT=${TIDEGATE_DEMO_INTAKE_PORT:-2727}
ADMIN_PORT=${TIDEGATE_DEMO_ADMIN_PORT:-8080}
CONSOLE_PORT=${TIDEGATE_DEMO_CONSOLE_PORT:-8081}
DNS_PORT=${TIDEGATE_DEMO_DNS_PORT:-5353}
RSPAMD_PORT=${TIDEGATE_DEMO_RSPAMD_PORT:-2828}
CLAMD_PORT=${TIDEGATE_DEMO_CLAMD_PORT:-2929}
LDAP_PORT=${TIDEGATE_DEMO_LDAP_PORT:-3389}
# How run/ is shown: relative when it is the work tree's run/.
SHOW=$RUN
[ "$RUN" = "$ROOT/run" ] && SHOW=run
mkdir -p "$RUN/tls" "$RUN/gateway" "$RUN/intake" "$RUN/logs"

# Every port the demo uses: gateway SMTP, mailbox, intake SMTP, admin, intake console, DNS,
# rspamd, clamd, slapd.
PORTS=("$SMTP_PORT" "$MAILBOX_PORT" "$INTAKE_PORT" "$ADMIN_PORT" "$CONSOLE_PORT" "$DNS_PORT"
       "$RSPAMD_PORT" "$CLAMD_PORT" "$LDAP_PORT")
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
udp_busy() { ss -Hlun "( sport = :$1 )" 2>/dev/null | grep -q .; }
busy=()
for p in "${PORTS[@]}"; do
  if port_open "$p" || { [ "$p" = "$DNS_PORT" ] && udp_busy "$p"; }; then busy+=("$p"); fi
done
for p in "${busy[@]}"; do
  echo "run-demo: port 127.0.0.1:$p is already in use (another demo running?);" \
       "the demo needs ${PORTS[*]} (TIDEGATE_DEMO_*_PORT move them)" >&2
  exit 1
done

GATEWAY_CONF=examples/gateway.yaml
INTAKE_CONF=examples/intake.yaml
if [ "$SHOW" != run ] || [ "${PORTS[*]}" != "2525 2626 2727 8080 8081 5353 2828 2929 3389" ]; then
  # The examples with only the demo's ports and ../run/ replaced.
  for f in gateway intake; do
    sed -e "s#127\.0\.0\.1:2525\b#127.0.0.1:$SMTP_PORT#g" \
        -e "s#127\.0\.0\.1:2626\b#127.0.0.1:$MAILBOX_PORT#g" \
        -e "s#127\.0\.0\.1:2727\b#127.0.0.1:$INTAKE_PORT#g" \
        -e "s#127\.0\.0\.1:8080\b#127.0.0.1:$ADMIN_PORT#g" \
        -e "s#127\.0\.0\.1:8081\b#127.0.0.1:$CONSOLE_PORT#g" \
        -e "s#127\.0\.0\.1:5353\b#127.0.0.1:$DNS_PORT#g" \
        -e "s#127\.0\.0\.1:2828\b#127.0.0.1:$RSPAMD_PORT#g" \
        -e "s#127\.0\.0\.1:2929\b#127.0.0.1:$CLAMD_PORT#g" \
        -e "s#127\.0\.0\.1:3389\b#127.0.0.1:$LDAP_PORT#g" \
        -e "s#\.\./run/#$RUN/#g" "examples/$f.yaml" > "$RUN/$f.yaml"
  done
  GATEWAY_CONF=$SHOW/gateway.yaml
  INTAKE_CONF=$SHOW/intake.yaml
fi

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
  echo "Generating a local CA and certificates in $SHOW/tls/ ..."
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$RUN/tls/ca.key" \
    -out "$RUN/tls/ca.crt" -days 825 -subj "/CN=tidegate demo CA" 2>/dev/null
fi
cert gateway gw.example.com "DNS:gw.example.com,DNS:localhost,IP:127.0.0.1"
cert intake intake.example.net "DNS:intake.example.net,DNS:localhost,IP:127.0.0.1"
for f in admin intake; do
  [ -f "$RUN/$f.password" ] || (umask 077; openssl rand -hex 12 > "$RUN/$f.password")
done

PIDS=()
STOPPING=
stop() {
  trap - INT TERM EXIT
  STOPPING=1
  echo; echo "Stopping ..."
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "Stopped."
}
trap stop INT TERM EXIT

wait_for() {  # wait_for SECONDS NAME PID CHECK...: until CHECK succeeds, failing if PID died
  local seconds=$1 name=$2 pid=$3
  shift 3
  for _ in $(seq $((seconds * 10))); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "run-demo: $name exited; see $SHOW/logs/" >&2; return 1; }
    sleep 0.1
  done
  echo "run-demo: $name is not ready after $seconds s; see $SHOW/logs/" >&2
  return 1
}
wait_port() { wait_for 15 "$2" "$3" port_open "$1"; }  # wait_port PORT NAME PID
rspamd_up() { curl -fs -m 2 "http://127.0.0.1:$RSPAMD_PORT/ping" 2>/dev/null | grep -q "^pong"; }

# The demo's directory (CONTRACT §13, recipient validation): a private slapd with the demo users
# (tests/e2e/slapd.py, the e2e tests' fixture), fresh each run; its bind password file is what
# the gateway's recipient_validation.ldap.password_file names, so it comes before check-config.
rm -rf "$RUN/ldap"
$PY tests/e2e/slapd.py serve "$RUN/ldap" --port "$LDAP_PORT" --demo >"$RUN/logs/slapd.log" 2>&1 &
PIDS+=($!)
wait_for 30 slapd "${PIDS[-1]}" grep -q "^password_file=" "$RUN/logs/slapd.log"

"$BIN" -c "$GATEWAY_CONF" check-config >/dev/null

# DNS for the demo names only; NXDOMAIN for everything else, at once (no upstream, no timeouts).
dns_user=()
[ "$(id -u)" = 0 ] && dns_user=(--user=root)
"$DNSMASQ" --no-daemon --no-resolv --no-hosts --no-poll --port="$DNS_PORT" \
  --listen-address=127.0.0.1 --bind-interfaces "${dns_user[@]}" --local=/#/ \
  --log-facility="$RUN/logs/dnsmasq.log" \
  --host-record=gw.example.com,127.0.0.1 --host-record=intake.example.net,127.0.0.1 \
  --host-record=mail.example.com,127.0.0.1 --mx-host=example.com,mail.example.com,10 \
  --mx-host=intake.example.net,intake.example.net,10 2>>"$RUN/logs/dnsmasq.log" &
PIDS+=($!)
for _ in $(seq 50); do
  udp_busy "$DNS_PORT" && break
  kill -0 "${PIDS[-1]}" 2>/dev/null ||
    { echo "run-demo: dnsmasq exited; see $SHOW/logs/" >&2; exit 1; }
  sleep 0.1
done
# The engines start while the rest comes up (rspamd takes seconds); the demo waits for them last.
# rspamd's only resolver is the dnsmasq above: its checks never leave the machine.
$PY scripts/engine_configs.py rspamd "$RUN/rspamd" "$RSPAMD_PORT" "$DNS_PORT" \
  >>"$RUN/logs/rspamd.log" 2>&1 &
PIDS+=($!)
RSPAMD_PID=$!
$PY scripts/engine_configs.py clamd "$RUN/clamd" "$CLAMD_PORT" >>"$RUN/logs/clamd.log" 2>&1 &
PIDS+=($!)
CLAMD_PID=$!
$PY -m aiosmtpd -n -l "127.0.0.1:$MAILBOX_PORT" -c aiosmtpd.handlers.Mailbox "$RUN/mailbox" \
  >>"$RUN/logs/mailbox.log" 2>&1 &
PIDS+=($!)
wait_port "$MAILBOX_PORT" "the mailbox" "${PIDS[-1]}"
"$BIN" -c "$INTAKE_CONF" intake >>"$RUN/logs/intake.log" 2>&1 &
PIDS+=($!)
wait_port "$INTAKE_PORT" "the intake" "${PIDS[-1]}"
wait_port "$CONSOLE_PORT" "the intake console" "${PIDS[-1]}"
"$BIN" -c "$GATEWAY_CONF" serve >>"$RUN/logs/gateway.log" 2>&1 &
PIDS+=($!)
wait_port "$SMTP_PORT" "the gateway" "${PIDS[-1]}"

wait_port "$ADMIN_PORT" "the gateway's admin Web UI" "${PIDS[-1]}"
wait_port "$CLAMD_PORT" "clamd" "$CLAMD_PID"
if ! wait_for 3 rspamd "$RSPAMD_PID" rspamd_up 2>/dev/null; then
  kill -0 "$RSPAMD_PID" 2>/dev/null ||
    { echo "run-demo: rspamd exited; see $SHOW/logs/" >&2; exit 1; }
  echo "Waiting for rspamd: its first start on a machine compiles its hyperscan cache" \
       "(about 30 s, more on a busy machine; once) ..."
  wait_for 120 rspamd "$RSPAMD_PID" rspamd_up
fi
admin_password=$(head -n1 "$RUN/admin.password")
admin_line="  admin Web UI:    http://127.0.0.1:$ADMIN_PORT (admin / $admin_password)"

cat <<TXT

tidegate demo is running (Ctrl-C stops it):
  gateway SMTP     127.0.0.1:$SMTP_PORT (STARTTLS with $SHOW/tls/gateway.crt, CA $SHOW/tls/ca.crt)
  next-hop mailbox 127.0.0.1:$MAILBOX_PORT → $SHOW/mailbox/new/ (Maildir)
  intake SMTP      127.0.0.1:$INTAKE_PORT (STARTTLS required; the gateway verifies it with $SHOW/tls/ca.crt)
  intake console:  http://127.0.0.1:$CONSOLE_PORT (admin / $(head -n1 "$RUN/intake.password"))
                   accounts: demo (global intake address), sales (the Sales policy's)
$admin_line
  DNS              127.0.0.1:$DNS_PORT (dnsmasq: demo names only)
  anti-spam        rspamd on 127.0.0.1:$RSPAMD_PORT (config and logs in $SHOW/rspamd/)
  anti-virus       clamd on 127.0.0.1:$CLAMD_PORT (config, test database and log in $SHOW/clamd/)
  directory        slapd on 127.0.0.1:$LDAP_PORT: alice@, bob@ (robert@), ceo@example.com (README step 7)
  quarantines      build/tidegate -c $GATEWAY_CONF quarantine list
  mail logs        $SHOW/gateway/mail_logs/mail.current, $SHOW/intake/mail_logs/mail.current
  operator         build/tidegate -c $GATEWAY_CONF status

Send a message:
  swaks --server 127.0.0.1:$SMTP_PORT --from alice@sender.example --to bob@example.com -tls
Then see it in $SHOW/mailbox/new/, and its journal copy in the console (account demo) or with:
  curl -u admin:$(head -n1 "$RUN/intake.password") 'http://127.0.0.1:$CONSOLE_PORT/api/v1/messages?account=demo'
(--to ceo@example.com goes through the Sales policy to the account sales.)
GTUBE goes to the Spam quarantine and EICAR is dropped: README "Try it", step 6.
TXT
wait -n "${PIDS[@]}" || true
[ -n "$STOPPING" ] || echo "run-demo: a demo process exited; see $SHOW/logs/" >&2
