# Sourced by the civic scripts: turns DATABASE_URL into libpq's PG* environment variables so that
# psql and pgbench connect without the URL (and its password) ever appearing on a command line.
#
#   . examples/civic/pgenv.sh          exports PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, and
#                                      PGSSLMODE / PGCONNECT_TIMEOUT / PGAPPNAME from ?query params
#
# Handles postgres:// and postgresql:// URLs with percent-encoded user and password. Without
# DATABASE_URL it leaves the PG* environment as it is.

civic_urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

civic_pgenv_from_url() {
  local url=$1 rest auth hostport path query q k v
  case $url in
    postgres://*|postgresql://*) rest=${url#*://} ;;
    *) echo "pgenv: DATABASE_URL is not a postgres:// or postgresql:// URL" >&2; return 1 ;;
  esac
  query=; case $rest in *\?*) query=${rest#*\?}; rest=${rest%%\?*} ;; esac
  path=; case $rest in */*) path=${rest#*/}; rest=${rest%%/*} ;; esac
  auth=; case $rest in *@*) auth=${rest%@*}; rest=${rest##*@} ;; esac
  hostport=$rest
  if [ -n "$auth" ]; then
    case $auth in
      *:*) export PGUSER; PGUSER=$(civic_urldecode "${auth%%:*}")
           export PGPASSWORD; PGPASSWORD=$(civic_urldecode "${auth#*:}") ;;
      *)   export PGUSER; PGUSER=$(civic_urldecode "$auth") ;;
    esac
  fi
  case $hostport in
    \[*\]:*) export PGHOST=${hostport%%]*}; PGHOST=${PGHOST#[}; export PGPORT=${hostport##*]:} ;;
    \[*\])   PGHOST=${hostport#[}; export PGHOST=${PGHOST%]} ;;
    *:*)     export PGHOST=${hostport%%:*} PGPORT=${hostport##*:} ;;
    ?*)      export PGHOST=$hostport ;;
  esac
  if [ -n "$path" ]; then export PGDATABASE; PGDATABASE=$(civic_urldecode "$path"); fi
  local IFS='&'
  for q in $query; do
    k=${q%%=*}; v=$(civic_urldecode "${q#*=}")
    case $k in
      sslmode) export PGSSLMODE=$v ;;
      connect_timeout) export PGCONNECT_TIMEOUT=$v ;;
      application_name) export PGAPPNAME=$v ;;
      host) export PGHOST=$v ;;
      port) export PGPORT=$v ;;
      user) export PGUSER=$v ;;
      dbname) export PGDATABASE=$v ;;
      *) echo "pgenv: ignoring URL parameter \"$k\"" >&2 ;;
    esac
  done
}

if [ -n "${DATABASE_URL:-}" ]; then
  civic_pgenv_from_url "$DATABASE_URL" || return 1 2>/dev/null || exit 1
fi
