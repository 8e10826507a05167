#!/bin/sh
# PID 1 of DTMA's MCP test images: runs the server (node, with the
# container's stdin), ends it on TERM, and keeps the container up when the
# server dies, so a test can kill the server process and see a container
# that runs while nothing in it answers.
# With MCP_EXIT_WITH_SERVER=1 the container is the server alone, as a client
# runs one with `docker run -i --rm`: it ends when the server does (its stdin closed).
trap 'kill $child 2>/dev/null; exit 0' TERM INT
# A background job's stdin would be /dev/null: hand it the container's through fd 3.
exec 3<&0
node "$@" <&3 3<&- &
child=$!
wait $child
status=$?
[ "${MCP_EXIT_WITH_SERVER:-}" = 1 ] && exit $status
while true; do sleep 1 & wait $!; done
