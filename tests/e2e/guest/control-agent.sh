#!/bin/sh
# The e2e driver's hands in the guest, on the virtio-serial port org.perfkvm.e2e-control.0.
# Requests, one line each (CMD is base64 of a /bin/sh command line):
#   RUN ID CMD     run it, wait, answer RESULT
#   START ID CMD   run it in the background, answer "STARTED ID PID"
#   WAIT ID        wait for a STARTed command, answer RESULT
#   EXIT ID        answer "BYE ID" and end (the guest then powers off)
# RESULT framing: the line "RESULT ID STATUS OUT_BYTES ERR_BYTES", then exactly OUT_BYTES of
# the command's stdout and ERR_BYTES of its stderr, raw.
PORT=/dev/virtio-ports/org.perfkvm.e2e-control.0
J=/tmp/e2e-jobs
mkdir -p $J
exec 3<>"$PORT" || { echo "E2E: cannot open $PORT"; exit 1; }
echo "E2E: control agent on $PORT"
# Written now, read whenever the driver connects (the write blocks until then).
echo "READY uptime=$(cut -d' ' -f1 /proc/uptime) cpus=$(grep -c ^processor /proc/cpuinfo)" >&3

result() {  # ID STATUS
    out=$(wc -c < "$J/$1.out"); err=$(wc -c < "$J/$1.err")
    { echo "RESULT $1 $2 $((out)) $((err))"; cat "$J/$1.out" "$J/$1.err"; } >&3
    rm -f "$J/$1.out" "$J/$1.err"
}
launch() {  # ID CMD-BASE64: the command gets neither the port (3) nor a terminal
    echo "$2" | base64 -d > "$J/$1.sh" || return 1
    sh "$J/$1.sh" < /dev/null > "$J/$1.out" 2> "$J/$1.err" 3>&- &
    eval "pid_$1=$!"
}

while :; do
    # read() returns end-of-file at once while no host client is connected: poll.
    if ! read -r verb id arg <&3; then sleep 0.1; continue; fi
    case "$verb" in
    RUN)   if launch "$id" "$arg"; then eval "wait \$pid_$id"; result "$id" $?
           else echo "bad command" > "$J/$id.err"; : > "$J/$id.out"; result "$id" 255; fi ;;
    START) if launch "$id" "$arg"; then eval "echo STARTED $id \$pid_$id" >&3
           else echo "STARTED $id 0" >&3; fi ;;
    WAIT)  eval "p=\${pid_$id:-}"
           if [ -n "$p" ]; then wait "$p"; result "$id" $?
           else echo "no job $id" > "$J/$id.err"; : > "$J/$id.out"; result "$id" 255; fi ;;
    EXIT)  echo "BYE $id" >&3; exit 0 ;;
    '')    ;;
    *)     echo "E2E: control agent: unknown request '$verb'" ;;
    esac
done
