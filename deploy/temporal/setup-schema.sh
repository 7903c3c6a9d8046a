#!/bin/sh
# Step 1 of 3 (the temporalio/admin-tools one-shot job): install or upgrade Temporal's schema in its
# two databases (created empty, owned by the `temporal` role, by deploy/postgres-init.sh). Safe to
# run again: setup-schema keeps an existing version table and update-schema applies only what is
# missing. The schema version matches the admin-tools image, which is pinned to the server's.
set -eu
PW="$(cat /run/secrets/db_temporal_password)"
for db in temporal temporal_visibility; do
    if [ "$db" = temporal ]; then dir=temporal; else dir=visibility; fi
    temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal --pw "$PW" --db "$db" \
        setup-schema -v 0.0
    temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal --pw "$PW" --db "$db" \
        update-schema -d "/etc/temporal/schema/postgresql/v12/$dir/versioned"
done
