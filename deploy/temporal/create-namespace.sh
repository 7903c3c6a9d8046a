#!/bin/sh
# Step 3 of 3: wait for the server, then create the namespace with an explicit retention (how long
# closed workflow histories are kept). Re-running leaves an existing namespace alone.
set -eu
: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${NAMESPACE:=default}"
: "${RETENTION:=720h}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do
    echo "waiting for Temporal at $TEMPORAL_ADDRESS ..."
    sleep 2
done
if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
    echo "namespace $NAMESPACE exists"
else
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
fi
