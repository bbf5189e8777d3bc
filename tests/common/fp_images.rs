//! Layers and start commands that real images put on top of a distribution rootfs, made
//! by code for the false-positive test (`tests/debian_fp.rs`): the nginx image's
//! entrypoint and its `/docker-entrypoint.d/` scripts, an apt key install, a certbot
//! cron job, a health-check ping, a unit that fetches its config, an app start script.
//! Each is what a legitimate image ships; none of it may reach MEDIUM. Included with
//! `#[path = "common/fp_images.rs"] mod fp_images;` beside `mod common;`.
#![allow(dead_code)]

use imgscan_testkit::Ent;

/// The nginx image's entrypoint, as the official image ships it (shape and commands):
/// runs the `*.sh` of `/docker-entrypoint.d/`, sources the `*.envsh`, then `exec "$@"`.
pub const NGINX_ENTRYPOINT: &str = r#"#!/bin/sh
# vim:sw=4:ts=4:et

set -e

entrypoint_log() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
        echo "$@"
    fi
}

if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    if /usr/bin/find "/docker-entrypoint.d/" -mindepth 1 -maxdepth 1 -type f -print -quit 2>/dev/null | read v; then
        entrypoint_log "$0: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"

        entrypoint_log "$0: Looking for shell scripts in /docker-entrypoint.d/"
        find "/docker-entrypoint.d/" -follow -type f -print | sort -V | while read -r f; do
            case "$f" in
                *.envsh)
                    if [ -x "$f" ]; then
                        entrypoint_log "$0: Sourcing $f";
                        . "$f"
                    else
                        entrypoint_log "$0: Ignoring $f, not executable";
                    fi
                    ;;
                *.sh)
                    if [ -x "$f" ]; then
                        entrypoint_log "$0: Launching $f";
                        "$f"
                    else
                        entrypoint_log "$0: Ignoring $f, not executable";
                    fi
                    ;;
                *) entrypoint_log "$0: Ignoring $f";;
            esac
        done

        entrypoint_log "$0: Configuration complete; ready for start up"
    else
        entrypoint_log "$0: No files found in /docker-entrypoint.d/, skipping configuration"
    fi
fi

exec "$@"
"#;

/// Enables IPv6 in the default server block when the kernel has it.
pub const NGINX_IPV6: &str = r#"#!/bin/sh
# vim:sw=4:ts=4:et

set -e

entrypoint_log() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
        echo "$@"
    fi
}

ME=$(basename "$0")
DEFAULT_CONF_FILE="etc/nginx/conf.d/default.conf"

# check if we have ipv6 available
if [ ! -f "/proc/net/if_inet6" ]; then
    entrypoint_log "$ME: info: ipv6 not available"
    exit 0
fi

if [ ! -f "/$DEFAULT_CONF_FILE" ]; then
    entrypoint_log "$ME: info: /$DEFAULT_CONF_FILE is not a file or does not exist"
    exit 0
fi

# check if the file can be modified, e.g. not on a r/o filesystem
touch /$DEFAULT_CONF_FILE 2>/dev/null || { entrypoint_log "$ME: info: can not modify /$DEFAULT_CONF_FILE (read-only file system?)"; exit 0; }

# enable ipv6 on default.conf listen sockets
sed -i -E 's,listen       80;,listen       80;\n    listen  [::]:80;,' /$DEFAULT_CONF_FILE

entrypoint_log "$ME: info: Enabled listen on IPv6 in /$DEFAULT_CONF_FILE"

exit 0
"#;

/// Sets `worker_processes` from the CPU count (`nproc`), as the official image does
/// when asked to: a look-alike of a miner's thread count.
pub const NGINX_WORKERS: &str = r#"#!/bin/sh
# vim:sw=2:ts=2:sts=2:et

set -eu

LC_ALL=C
ME=$(basename "$0")
PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

[ "${NGINX_ENTRYPOINT_WORKER_PROCESSES_AUTOTUNE:-}" ] || exit 0

touch /etc/nginx/nginx.conf 2>/dev/null || { echo >&2 "$ME: error: can not modify /etc/nginx/nginx.conf (read-only file system?)"; exit 0; }

ncpu=$(nproc)
sed -i.bak -r 's/^(worker_processes)(.*)$/# Commented out by '"$ME"' on '"$(date)"'\n#\1\2\n\1 '"$ncpu"';/' /etc/nginx/nginx.conf
"#;

/// The `RUN` step that installs nginx.org's signing key and repository the way their
/// instructions say (`curl | gpg --dearmor`), then the package.
pub const NGINX_KEY_RUN: &str = "RUN /bin/sh -c set -x && apt-get update && apt-get install --no-install-recommends --no-install-suggests -y curl gnupg ca-certificates && curl -fsSL https://nginx.org/keys/nginx_signing.key | gpg --dearmor -o /usr/share/keyrings/nginx-archive-keyring.gpg && echo \"deb [signed-by=/usr/share/keyrings/nginx-archive-keyring.gpg] https://nginx.org/packages/mainline/debian/ bookworm nginx\" > /etc/apt/sources.list.d/nginx.list && apt-get update && apt-get install --no-install-recommends --no-install-suggests -y nginx gettext-base && rm -rf /var/lib/apt/lists/* && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log && mkdir /docker-entrypoint.d # buildkit";

/// Bytes shaped like a dearmored OpenPGP public key (old-format packet tag 0x99, a
/// version-4 RSA key header, then deterministic filler): binary, as the real file is.
pub fn keyring_bytes() -> Vec<u8> {
    let mut v = vec![
        0x99, 0x02, 0x0d, 0x04, 0x65, 0x4a, 0x1b, 0x00, 0x01, 0x10, 0x00,
    ];
    let mut x: u32 = 0x9e37_79b9;
    while v.len() < 1_100 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push(x as u8);
    }
    v
}

/// The layer the key-install `RUN` leaves: keyring, sources list, log symlinks.
pub fn nginx_key_layer() -> Vec<Ent> {
    vec![
        Ent::file("usr/share/keyrings/nginx-archive-keyring.gpg", keyring_bytes()),
        Ent::file(
            "etc/apt/sources.list.d/nginx.list",
            b"deb [signed-by=/usr/share/keyrings/nginx-archive-keyring.gpg] https://nginx.org/packages/mainline/debian/ bookworm nginx\n",
        ),
        Ent::symlink("var/log/nginx/access.log", "/dev/stdout"),
        Ent::symlink("var/log/nginx/error.log", "/dev/stderr"),
        Ent::dir("docker-entrypoint.d"),
    ]
}

/// The layer the `COPY` steps leave: the entrypoint and its configuration scripts.
pub fn nginx_entrypoint_layer() -> Vec<Ent> {
    vec![
        Ent::exe("docker-entrypoint.sh", NGINX_ENTRYPOINT.as_bytes()),
        Ent::exe(
            "docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
            NGINX_IPV6.as_bytes(),
        ),
        Ent::exe(
            "docker-entrypoint.d/30-tune-worker-processes.sh",
            NGINX_WORKERS.as_bytes(),
        ),
    ]
}

/// Debian's certbot cron job, byte for byte in its commands: a `perl -e` one-liner
/// that sleeps a random time before renewing.
pub const CERTBOT_CRON: &str = r#"# /etc/cron.d/certbot: crontab entries for the certbot package
#
# Upstream recommends attempting renewal twice a day
#
# Eventually, this will be an opportunity to validate certificates
# haven't been revoked, etc.  Renewal will only occur if expiration
# is within 30 days.
#
# Important Note!  This cronjob will NOT be executed if you are
# running systemd as your init system.  If you are running systemd,
# the cronjob.timer function takes precedence over this cronjob.  For
# more details, see the systemd.timer manpage, or use systemctl show
# certbot.timer.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin

0 */12 * * * root test -x /usr/bin/certbot -a \! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew --no-random-sleep-on-renew
"#;

/// A health-check ping every five minutes: downloads, runs nothing it fetched.
pub const HEALTHCHECK_CRON: &str = "# Tell the monitoring service this host is alive.\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\n*/5 * * * * root curl -fsS -m 10 --retry 5 -o /dev/null https://hc-ping.com/5f1c2a8e-3b4d-4c6e-9f7a-0d2b8e1c4a6f\n";

/// A service that fetches its configuration before it starts: a download in a unit
/// whose result is read, not run.
pub const APP_UNIT: &str = "[Unit]\nDescription=Example web application\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nType=simple\nUser=www-data\nEnvironmentFile=-/etc/default/webapp\nExecStartPre=/usr/bin/curl -fsSL --retry 3 -o /etc/webapp/config.json https://config.example.org/webapp/config.json\nExecStart=/usr/bin/python3 -m http.server 8080 --bind 127.0.0.1 --directory /srv/webapp\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n";

/// The layer a systemd image's `RUN`/`COPY` steps leave: cron jobs, a unit and its
/// enablement symlink, the document root.
pub fn systemd_app_layer() -> Vec<Ent> {
    vec![
        Ent::file("etc/cron.d/certbot", CERTBOT_CRON.as_bytes()),
        Ent::file("etc/cron.d/healthcheck", HEALTHCHECK_CRON.as_bytes()),
        Ent::file("etc/systemd/system/webapp.service", APP_UNIT.as_bytes()),
        Ent::symlink(
            "etc/systemd/system/multi-user.target.wants/webapp.service",
            "/etc/systemd/system/webapp.service",
        ),
        Ent::dir("etc/webapp"),
        Ent::file(
            "srv/webapp/index.html",
            b"<!doctype html><title>ok</title>ok\n",
        ),
    ]
}

/// An app's start script: worker count from `nproc`, a `host:port` listen address.
pub const APP_START: &str = "#!/bin/sh\nset -eu\n: \"${WORKERS:=$(nproc)}\"\n: \"${LISTEN:=0.0.0.0:8080}\"\nif [ -f /etc/app/env ]; then\n    . /etc/app/env\nfi\nexec /usr/local/bin/app serve --workers \"$WORKERS\" --listen \"$LISTEN\" \"$@\"\n";

/// The layer of a small app on a minbase image: its start script and its env file.
pub fn app_layer() -> Vec<Ent> {
    vec![
        Ent::exe("usr/local/bin/start.sh", APP_START.as_bytes()),
        Ent::file("etc/app/env", b"WORKERS=4\nLOG_LEVEL=info\n"),
    ]
}
