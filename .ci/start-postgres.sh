#!/usr/bin/env bash
# Makes sure a Postgres server answers on 127.0.0.1:5432 with trust auth for user postgres,
# starting the Debian cluster if it is down.
set -euo pipefail
ready() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if ready; then echo "postgres is up"; exit 0; fi
version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$version" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n1)
fi
if ! pg_lsclusters -h | grep -q "^$version main"; then pg_createcluster "$version" main; fi
hba="/etc/postgresql/$version/main/pg_hba.conf"
if ! grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 60); do ready && { echo "postgres started"; exit 0; }; sleep 0.5; done
echo "postgres did not start" >&2
exit 1
