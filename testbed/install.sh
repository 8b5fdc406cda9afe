#!/usr/bin/env bash
# Sets up the offline AWS test-bed (see testbed/README.md). Idempotent: a
# second run only checks and rebuilds nothing that is current.
#
# Project-local (under ${BAKERY_CACHE:-<root>/.cache}, no root needed):
#   venv/                 Python venv with the pins of testbed/requirements.txt (moto[server])
#   bin/packer            packer v1.15.0, built from its module source in src/packer-1.15.0
#   bin/authorized-keys   build of ./testbed/cmd/authorized-keys (copied to the system, below)
#   bin/bakery-testbed    the test-bed CLI (run / up / check)
#
# System changes (root only; testbed/uninstall.sh undoes them all):
#   apt packages          openssh-server, openssh-sftp-server, sudo, python3-venv -- only those
#                         missing (openssh-server normally pulls in the sftp one); the distro's
#                         sshd service is stopped and disabled if installing the package started it
#   user ec2-user         home /home/ec2-user, shell /bin/bash, GECOS "bakery test-bed" (marks it
#                         ours), password field "*": no password, but not "locked", which sshd
#                         without PAM would refuse even for key logins
#   /etc/sudoers.d/bakery-testbed             ec2-user ALL=(ALL) NOPASSWD: ALL (as on Amazon Linux)
#   /usr/libexec/openssh/sftp-server          symlink to Debian's /usr/lib/openssh/sftp-server,
#                                             Amazon Linux's path (only if nothing is there)
#   /usr/local/libexec/bakery-testbed/authorized-keys
#                         sshd's AuthorizedKeysCommand; root-owned 0755 in root-owned folders,
#                         because sshd refuses a command anyone else could replace
#   /run/sshd             sshd's privilege-separation folder (the package normally makes it)
#   users bakery-deploy, bakery-app   for the ansible provisioner's tests (same GECOS mark):
#                         bakery-deploy logs in with the instance's keys (a play's remote_user),
#                         no sudo; bakery-app cannot log in, it is a become_user target
#
# Project-local, for the ansible provisioner's e2e tests:
#   ansible-2.19/, ansible-2.18/   venvs with testbed/requirements-ansible-*.txt (pinned ansible-core
#                         and mitogen)
#
# Project-local, for the credential e2e tests:
#   bin/ec2-metadata-mock  amazon-ec2-metadata-mock v1.13.0 (IMDS emulator), go install'ed
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE=${BAKERY_CACHE:-$ROOT/.cache}
case $CACHE in /*) ;; *) CACHE=$ROOT/$CACHE ;; esac

PACKER_VERSION=1.15.0
TESTBED_USER=ec2-user
USER_MARK="bakery test-bed"
SUDOERS=/etc/sudoers.d/bakery-testbed
SFTP_LINK=/usr/libexec/openssh/sftp-server
SFTP_TARGET=/usr/lib/openssh/sftp-server
AK_DIR=/usr/local/libexec/bakery-testbed
AK_BIN=$AK_DIR/authorized-keys

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# --- preflight: tools every path needs -------------------------------------
command -v go >/dev/null || die "go is not on PATH; the test-bed builds packer and its sshd helper with it"
command -v python3 >/dev/null || die "python3 is not on PATH; moto runs in a Python venv"

# --- what the system lacks (decided before changing anything) ---------------
missing_pkgs=()
[ -x /usr/sbin/sshd ] || missing_pkgs+=(openssh-server)
[ -x /usr/lib/openssh/sftp-server ] || missing_pkgs+=(openssh-sftp-server)
command -v sudo >/dev/null || missing_pkgs+=(sudo)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing_pkgs+=(python3-venv)

user_ok() {
	local entry pw
	entry=$(getent passwd "$TESTBED_USER") || return 1
	[ "$(cut -d: -f5 <<<"$entry")" = "$USER_MARK" ] || return 1
	[ "$(cut -d: -f6 <<<"$entry")" = /home/$TESTBED_USER ] || return 1
	[ "$(cut -d: -f7 <<<"$entry")" = /bin/bash ] || return 1
	[ -d /home/$TESTBED_USER ] || return 1
	pw=$(getent shadow "$TESTBED_USER" 2>/dev/null | cut -d: -f2) || return 1
	[ "$pw" = '*' ]
}

sudoers_text() {
	printf '%s\n' \
		'# Installed by testbed/install.sh of packer-plugin-bakery; removed by testbed/uninstall.sh.' \
		'# ec2-user may sudo without a password, as on Amazon Linux.' \
		"$TESTBED_USER ALL=(ALL) NOPASSWD: ALL"
}
sudoers_ok() { [ -f "$SUDOERS" ] && cmp -s "$SUDOERS" <(sudoers_text); }
sftp_ok() { [ -e "$SFTP_LINK" ]; }

# Extra users for the ansible provisioner's tests: NAME:SHELL.
EXTRA_USERS=(bakery-deploy:/bin/bash bakery-app:/usr/sbin/nologin)
extra_user_ok() { # NAME SHELL
	local entry
	entry=$(getent passwd "$1") || return 1
	[ "$(cut -d: -f5 <<<"$entry")" = "$USER_MARK" ] && [ "$(cut -d: -f7 <<<"$entry")" = "$2" ] && [ -d "/home/$1" ]
}
extra_users_ok() {
	local u
	for u in "${EXTRA_USERS[@]}"; do extra_user_ok "${u%%:*}" "${u#*:}" || return 1; done
}

ak_ok() { [ -x "$AK_BIN" ] && cmp -s "$CACHE/bin/authorized-keys" "$AK_BIN"; }

# Lists in $todo everything the system lacks. Argument 1: the helper has been
# built, so the installed copy can be compared with it; 0: only check it exists.
system_todo() { # BUILT(0/1)
	todo=()
	((${#missing_pkgs[@]} == 0)) || todo+=("apt packages: ${missing_pkgs[*]}")
	# /etc/shadow and the 0440 sudoers file are root-only: a non-root run
	# checks that they exist, root checks their content.
	if is_root; then
		user_ok || todo+=("user $TESTBED_USER")
		sudoers_ok || todo+=("$SUDOERS")
	else
		getent passwd "$TESTBED_USER" >/dev/null || todo+=("user $TESTBED_USER")
		[ -e "$SUDOERS" ] || todo+=("$SUDOERS")
	fi
	sftp_ok || todo+=("$SFTP_LINK")
	extra_users_ok || todo+=("users ${EXTRA_USERS[*]%%:*}")
	if (($1)); then ak_ok || todo+=("$AK_BIN (missing or out of date)"); else [ -x "$AK_BIN" ] || todo+=("$AK_BIN"); fi
	[ -d /run/sshd ] || todo+=("/run/sshd")
}
refuse_unless_root() {
	((${#todo[@]})) && ! is_root || return 0
	{
		echo "install.sh: the test-bed's system parts are missing or out of date:"
		printf '  - %s\n' "${todo[@]}"
		echo "install.sh: they need root (a user, sudoers, files under /usr); nothing on the system was changed."
		echo "install.sh: run it as root: sudo testbed/install.sh"
	} >&2
	exit 1
}

# Refuse before building anything if the system parts are plainly missing;
# then build the helper and refuse if the installed copy is out of date.
system_todo 0
refuse_unless_root
build_go() { # OUT PKG
	say "go build $2 -> $1"
	GOFLAGS=-buildvcs=false go build -trimpath -o "$1.tmp" "$2"
	mv -f "$1.tmp" "$1"
}
mkdir -p "$CACHE/bin"
build_go "$CACHE/bin/authorized-keys" ./testbed/cmd/authorized-keys
build_go "$CACHE/bin/bakery-testbed" ./testbed/cmd/bakery-testbed
system_todo 1
refuse_unless_root

# --- system parts ------------------------------------------------------------
stop_distro_sshd() {
	# The package's postinst may have started sshd on port 22; the bed runs
	# its own sshd on loopback and the machine should not gain an open port.
	if [ -d /run/systemd/system ]; then
		say "stopping and disabling the distro's ssh service (installing openssh-server started it)"
		systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
	elif [ -f /run/sshd.pid ] && kill -0 "$(cat /run/sshd.pid)" 2>/dev/null; then
		say "stopping the distro's sshd started by the package (pid $(cat /run/sshd.pid))"
		service ssh stop >/dev/null 2>&1 || kill "$(cat /run/sshd.pid)" || true
	fi
}

if ((${#missing_pkgs[@]})); then
	say "apt-get install ${missing_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing_pkgs[@]}"
	if [[ " ${missing_pkgs[*]} " == *" openssh-server "* ]]; then stop_distro_sshd; fi
fi

if is_root && ! user_ok; then
	if entry=$(getent passwd "$TESTBED_USER"); then
		[ "$(cut -d: -f5 <<<"$entry")" = "$USER_MARK" ] ||
			die "user $TESTBED_USER exists but was not created by install.sh (GECOS is not \"$USER_MARK\"); remove it or use another machine -- install.sh will not change someone else's account"
		say "fixing user $TESTBED_USER (home, shell)"
		usermod --home /home/$TESTBED_USER --shell /bin/bash "$TESTBED_USER"
		mkdir -p /home/$TESTBED_USER
		chown "$TESTBED_USER": /home/$TESTBED_USER
	else
		say "useradd $TESTBED_USER"
		useradd --create-home --home-dir /home/$TESTBED_USER --shell /bin/bash \
			--user-group --comment "$USER_MARK" "$TESTBED_USER"
	fi
	say "setting $TESTBED_USER's password field to * (no password, not locked)"
	usermod --password '*' "$TESTBED_USER"
	user_ok || die "user $TESTBED_USER is still not as expected: $(getent passwd "$TESTBED_USER")"
fi

if ! sudoers_ok; then
	say "writing $SUDOERS"
	tmp=$(mktemp)
	trap 'rm -f "$tmp"' EXIT
	sudoers_text >"$tmp"
	visudo -cqf "$tmp" || die "visudo rejected the sudoers snippet (nothing installed)"
	install -o root -g root -m 0440 "$tmp" "$SUDOERS"
	visudo -cq || die "visudo -c fails after installing $SUDOERS; remove it and investigate"
fi

for u in "${EXTRA_USERS[@]}"; do
	name=${u%%:*} shell=${u#*:}
	extra_user_ok "$name" "$shell" && continue
	if getent passwd "$name" >/dev/null; then
		[ "$(getent passwd "$name" | cut -d: -f5)" = "$USER_MARK" ] ||
			die "user $name exists but was not created by install.sh; remove it or use another machine"
		usermod --home "/home/$name" --shell "$shell" "$name"
		mkdir -p "/home/$name" && chown "$name": "/home/$name"
	else
		say "useradd $name"
		useradd --create-home --home-dir "/home/$name" --shell "$shell" --user-group --comment "$USER_MARK" "$name"
	fi
	# "*": no password but not locked (sshd without PAM refuses locked accounts).
	usermod --password '*' "$name"
done

if ! sftp_ok; then
	[ -x "$SFTP_TARGET" ] || die "$SFTP_TARGET is missing; is openssh-sftp-server installed?"
	say "linking $SFTP_LINK -> $SFTP_TARGET (Amazon Linux path)"
	mkdir -p "$(dirname "$SFTP_LINK")"
	ln -s "$SFTP_TARGET" "$SFTP_LINK"
fi

if [ ! -d /run/sshd ]; then
	say "creating /run/sshd"
	install -d -o root -g root -m 0755 /run/sshd
fi

# sshd checks every folder above its AuthorizedKeysCommand; create missing
# ones root-owned 0755, and refuse (rather than chmod system folders) if an
# existing one is unsafe.
secure_dirs() {
	local d=$1
	while :; do
		[ "$(stat -c %u "$d")" = 0 ] || die "$d is not owned by root; sshd would refuse $AK_BIN"
		case $(stat -c %A "$d") in ?????w* | ????????w*) die "$d is group/world writable; sshd would refuse $AK_BIN" ;; esac
		[ "$d" = / ] && return
		d=$(dirname "$d")
	done
}
if ! ak_ok; then
	say "installing $AK_BIN"
	for d in /usr/local/libexec "$AK_DIR"; do
		[ -d "$d" ] || install -d -o root -g root -m 0755 "$d"
	done
	install -o root -g root -m 0755 "$CACHE/bin/authorized-keys" "$AK_BIN"
fi
secure_dirs "$AK_DIR"

# --- project-local parts -------------------------------------------------------
moto_pin=$(sed -n 's/^moto\[server\]==//p' testbed/requirements.txt)
[ -n "$moto_pin" ] || die "testbed/requirements.txt has no moto[server]==VERSION line"
venv_ok() {
	[ -x "$CACHE/venv/bin/moto_server" ] &&
		[ "$("$CACHE/venv/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p')" = "$moto_pin" ]
}
if venv_ok; then
	say "venv ok: moto $moto_pin in $CACHE/venv"
else
	say "creating venv $CACHE/venv with testbed/requirements.txt"
	python3 -m venv "$CACHE/venv"
	"$CACHE/venv/bin/pip" install --disable-pip-version-check --quiet -r testbed/requirements.txt
	venv_ok || die "moto $moto_pin is still not in $CACHE/venv after pip install"
fi

for req in testbed/requirements-ansible-*.txt; do
	minor=${req#testbed/requirements-ansible-}
	minor=${minor%.txt}
	pin=$(sed -n 's/^ansible-core==//p' "$req")
	venv=$CACHE/ansible-$minor
	# The venv keeps a copy of the requirements it was made with: a changed
	# pin (mitogen added, a version moved) reinstalls, not only ansible-core's.
	if [ -x "$venv/bin/ansible-playbook" ] && cmp -s "$req" "$venv/bakery-requirements.txt" &&
		[ "$("$venv/bin/pip" show ansible-core 2>/dev/null | sed -n 's/^Version: //p')" = "$pin" ]; then
		say "ansible ok: ansible-core $pin in $venv"
	else
		say "creating venv $venv with $req"
		python3 -m venv "$venv"
		"$venv/bin/pip" install --disable-pip-version-check --quiet -r "$req"
		cp "$req" "$venv/bakery-requirements.txt"
	fi
done

packer_ok() {
	[ -x "$CACHE/bin/packer" ] &&
		CHECKPOINT_DISABLE=1 "$CACHE/bin/packer" version 2>/dev/null | grep -qx "Packer v$PACKER_VERSION"
}
if packer_ok; then
	say "packer ok: $CACHE/bin/packer is v$PACKER_VERSION"
else
	# `go install packer@v` refuses modules with replace directives; build
	# from a writable copy of the module source instead (~3 minutes).
	say "building packer v$PACKER_VERSION (takes a few minutes)"
	dl=$(mktemp -d)
	json=$(cd "$dl" && GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/packer@v$PACKER_VERSION")
	rmdir "$dl"
	moddir=$(python3 -c 'import json, sys; print(json.load(sys.stdin).get("Dir", ""))' <<<"$json")
	[ -d "$moddir" ] || die "go mod download gave no source folder for packer: $json"
	src=$CACHE/src/packer-$PACKER_VERSION
	rm -rf "$src"
	mkdir -p "$CACHE/src"
	cp -r "$moddir" "$src"
	chmod -R u+w "$src"
	(cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" go build -o "$CACHE/bin/packer.tmp" .)
	mv -f "$CACHE/bin/packer.tmp" "$CACHE/bin/packer"
	packer_ok || die "$CACHE/bin/packer does not report v$PACKER_VERSION"
fi

# The IMDS emulator of the credential e2e tests (instance role over IMDSv2).
EC2_METADATA_MOCK_VERSION=v1.13.0
if [ -x "$CACHE/bin/ec2-metadata-mock" ] && "$CACHE/bin/ec2-metadata-mock" --version 2>/dev/null | grep -q "${EC2_METADATA_MOCK_VERSION#v}"; then
	say "ec2-metadata-mock ok: $CACHE/bin/ec2-metadata-mock is $EC2_METADATA_MOCK_VERSION"
else
	say "go install ec2-metadata-mock@$EC2_METADATA_MOCK_VERSION"
	GOBIN=$CACHE/bin GOFLAGS=-buildvcs=false go install "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$EC2_METADATA_MOCK_VERSION"
fi

say "done; check with: $CACHE/bin/bakery-testbed check"
