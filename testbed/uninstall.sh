#!/usr/bin/env bash
# Undoes the system changes of testbed/install.sh. Idempotent. Removes only
# what install.sh made: the user only if it carries install.sh's GECOS mark,
# the sftp-server path only if it is install.sh's symlink. Leaves apt
# packages and the project-local cache (.cache) alone, and says so.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE=${BAKERY_CACHE:-$ROOT/.cache}
case $CACHE in /*) ;; *) CACHE=$ROOT/$CACHE ;; esac

TESTBED_USER=ec2-user
USER_MARK="bakery test-bed"
SUDOERS=/etc/sudoers.d/bakery-testbed
SFTP_LINK=/usr/libexec/openssh/sftp-server
SFTP_TARGET=/usr/lib/openssh/sftp-server
AK_DIR=/usr/local/libexec/bakery-testbed

say() { printf 'uninstall.sh: %s\n' "$*"; }
die() { printf 'uninstall.sh: ERROR: %s\n' "$*" >&2; exit 1; }

ours_user() { [ "$(getent passwd "$TESTBED_USER" | cut -d: -f5)" = "$USER_MARK" ]; }
ours_link() { [ -L "$SFTP_LINK" ] && [ "$(readlink "$SFTP_LINK")" = "$SFTP_TARGET" ]; }

todo=0
ours_user && todo=1
for name in bakery-deploy bakery-app; do [ "$(getent passwd "$name" | cut -d: -f5)" = "$USER_MARK" ] && todo=1; done
[ -e "$SUDOERS" ] && todo=1
ours_link && todo=1
[ -e "$AK_DIR" ] && todo=1
if ((todo)) && [ "$(id -u)" -ne 0 ]; then
	die "the test-bed's system parts are installed and removing them needs root: sudo testbed/uninstall.sh (nothing was changed)"
fi

if ours_user; then
	if pgrep -u "$TESTBED_USER" >/dev/null 2>&1; then
		die "processes of $TESTBED_USER are still running (a test-bed sshd session?); stop them first (pgrep -u $TESTBED_USER)"
	fi
	say "userdel --remove $TESTBED_USER (and /home/$TESTBED_USER)"
	# userdel warns when the mail spool does not exist; that is not a failure.
	userdel --remove "$TESTBED_USER" 2> >(grep -v 'mail spool' >&2 || true)
elif getent passwd "$TESTBED_USER" >/dev/null; then
	say "user $TESTBED_USER exists but was not created by install.sh; left alone"
fi

for name in bakery-deploy bakery-app; do
	if [ "$(getent passwd "$name" | cut -d: -f5)" = "$USER_MARK" ]; then
		pgrep -u "$name" >/dev/null 2>&1 && die "processes of $name are still running; stop them first (pgrep -u $name)"
		say "userdel --remove $name"
		userdel --remove "$name" 2> >(grep -v 'mail spool' >&2 || true)
	fi
done

if [ -e "$SUDOERS" ]; then
	say "removing $SUDOERS"
	rm -f "$SUDOERS"
fi

if ours_link; then
	say "removing symlink $SFTP_LINK"
	rm -f "$SFTP_LINK"
	# install.sh created the folder if it was missing; drop it only if empty.
	rmdir "$(dirname "$SFTP_LINK")" 2>/dev/null || true
elif [ -e "$SFTP_LINK" ]; then
	say "$SFTP_LINK is not install.sh's symlink; left alone"
fi

if [ -e "$AK_DIR" ]; then
	say "removing $AK_DIR"
	rm -rf "$AK_DIR"
	rmdir /usr/local/libexec 2>/dev/null || true
fi

say "system changes undone."
say "left in place: apt packages (openssh-server, openssh-sftp-server, sudo, python3-venv if install.sh added them: apt-get remove them if unwanted),"
say "  /run/sshd (owned by openssh-server), and the project cache $CACHE (rm -rf it to drop the venv, packer and test-bed runs)."
