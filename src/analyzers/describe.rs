//! What each finding id means for a person: its title, why it matters, what to do, and
//! its ATT&CK techniques. Data for `collate.rs`, kept apart so the policy there stays
//! readable.

use super::collate::*;

/// What each id means, what to do, and its ATT&CK techniques.
pub fn describe(
    id: &str,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
) {
    match id {
        MINER_BINARY => (
            "Cryptocurrency miner binary",
            "An executable in the image is a cryptocurrency miner (by name or by the strings only miners carry). Running the image spends your compute on someone else's mining (resource hijacking); backdoored public images are a known delivery route.",
            "Do not run this image. Rebuild from a trusted base, find which build step or base image added the file, and check hosts that ran it for mining processes and outbound pool connections.",
            &["T1496", "T1204.003"],
        ),
        MINER_CONFIG => (
            "Cryptocurrency miner configuration",
            "A file carries miner configuration keys (XMRig's donate-level, pools, randomx ...). Miners read such files at start.",
            "Remove the file and the miner it configures; rebuild from a trusted base.",
            &["T1496", "T1204.003"],
        ),
        MINER_STRINGS => (
            "Cryptocurrency miner strings",
            "A file contains text that miners or miner installers carry (usage text, command-line options, campaign markers).",
            "Inspect the file; if it installs or runs a miner, remove it and rebuild from a trusted base.",
            &["T1496"],
        ),
        POOL_ENDPOINT => (
            "Mining pool endpoint",
            "A mining pool address (stratum URL, pool domain or pool port) is referenced; miners connect to pools to get work and get paid.",
            "Remove the reference and whatever uses it; block the pool at the egress firewall.",
            &["T1496"],
        ),
        WALLET => (
            "Cryptocurrency wallet address",
            "A cryptocurrency wallet address is embedded (the coin and format are in the signal name, e.g. wallet:monero-standard, wallet:wownero-subaddress, wallet:bitcoin-bech32, wallet:ethereum-eip55); miners are configured with the wallet that receives the proceeds. CryptoNote-family addresses (Monero, Wownero, Zephyr, Haven, Arqma, Conceal, TurtleCoin) are checksum-verified and HIGH; Bitcoin and EIP-55 Ethereum addresses are checksum-verified but also appear in legitimate software, so they are LOW unless a miner or pool signal sits beside them; one-case Ethereum hex cannot be checked and counts only beside a miner or pool signal.",
            "Remove the miner configuration that carries the wallet and rebuild; the wallet can be reported to the pool operator.",
            &["T1496"],
        ),
        DROPPER => (
            "Download-and-execute dropper",
            "A script or command downloads code and runs it (curl|wget piped to a shell, base64-decoded payloads, cron persistence): whatever the remote host serves at run time will execute.",
            "Replace the download-and-execute step with a pinned, checksum-verified artifact, or remove it; check what the URL serves.",
            &["T1105", "T1059.004"],
        ),
        CRED_THEFT => (
            "Credential theft",
            "Code reads cloud or registry credentials (instance metadata IAM credentials, ~/.aws/credentials, ~/.docker/config.json, the Docker socket), and sends them out when an upload is present.",
            "Do not run the image; rotate any credentials reachable from hosts that ran it, and restrict instance metadata (IMDSv2, hop limit 1).",
            &["T1552.005", "T1552.001"],
        ),
        CLOUD_CREDENTIALS => (
            "Cloud credentials in the image config",
            "The image config carries a cloud access key (AKIA...) with its secret: anyone who can pull the image holds the key.",
            "Revoke the key now, remove it from the image, and pass credentials at run time instead.",
            &["T1552.001"],
        ),
        EVASION => (
            "Defence evasion",
            "Commands hide activity or clear the field for a miner: clearing shell history, disabling HISTFILE, killing rival miners, tuning huge pages for mining.",
            "Find out why the image hides its activity; remove the commands and rebuild.",
            &["T1070.003", "T1562"],
        ),
        PACKED_BINARY => (
            "Packed executable",
            "An executable is packed with UPX, which hides its code from inspection; miners are often shipped packed.",
            "Unpack (upx -d) and inspect it, or replace it with the vendor's unpacked build.",
            &["T1027.002"],
        ),
        MALFORMED_BINARY => (
            "Malformed executable header",
            "A file starts like an executable but its header does not parse; it was corrupted or crafted to confuse analysis tools.",
            "Inspect where the file comes from; remove it if nothing needs it.",
            &["T1027"],
        ),
        ARCHIVE_UNREADABLE => (
            "Nested archive could not be read",
            "An archive inside the image could not be read to the end, so part of it was not scanned.",
            "Inspect the archive by hand; remove it if nothing needs it.",
            &[],
        ),
        PERSISTENCE => (
            "Persistence that downloads and runs code",
            "A cron entry, systemd unit, supervisord program, boot script or shell start-up file downloads code and runs it: every time it fires, whatever the remote host serves then executes (miner droppers re-install themselves this way).",
            "Remove the entry and what it fetches; rebuild from a trusted base; on hosts that ran the image, check crontabs and units for the same line.",
            &["T1053.003", "T1543.002", "T1105"],
        ),
        SSH_KEY => (
            "SSH key planted for root",
            "Root's ~/.ssh/authorized_keys in the image holds a public key: whoever has the matching private key can log in as root wherever the image runs an SSH server (campaigns add their own key this way).",
            "Remove the file from the image; pass keys at run time if SSH is needed at all; rebuild from a trusted base.",
            &["T1098.004"],
        ),
        SETUID_SHELL => (
            "Setuid shell",
            "A shell carries the setuid or setgid bit: any user in the container gets the owner's rights (root) by running it (`bash -p`). No distribution ships one; it is a planted backdoor.",
            "Remove the file (or its setuid bit) and the build step that made it; rebuild from a trusted base.",
            &["T1548.001"],
        ),
        PATH_TRAVERSAL => (
            "Layer entry escapes the root",
            "A layer holds entries with absolute names or `..` components, which can write outside the target directory when a naive tool extracts the layer.",
            "Rebuild the layer with a standard tool; do not extract it with tools that follow such names.",
            &["T1204.003"],
        ),
        MINER_COMMAND => (
            "Cryptocurrency miner command line",
            "A command runs a program with a miner's command line (a pool endpoint with a wallet, a mining algorithm, a coin or options only miners have), whatever the program is called.",
            "Do not run this image. Find the step or script that starts the program, remove it and the binary it runs, and rebuild from a trusted base; block the pool at the egress firewall.",
            &["T1496", "T1204.003"],
        ),
        MINER_DOWNLOAD => (
            "Miner release download",
            "A command downloads a release of a known cryptocurrency miner (XMRig, SRBMiner, lolMiner, T-Rex, ...).",
            "Remove the download and whatever runs it; rebuild from a trusted base.",
            &["T1105", "T1496"],
        ),
        REVERSE_SHELL => (
            "Reverse shell",
            "A command wires a shell to a network connection (bash -i on /dev/tcp, nc -e, socat exec:, a python/perl socket one-liner, mkfifo with nc): whoever listens at the other end controls the container.",
            "Do not run the image; remove the command and rebuild from a trusted base. Block the address it connects to and check hosts that ran it.",
            &["T1059.004", "T1059.006", "T1071"],
        ),
        DOCKER_SOCKET => (
            "Docker API abuse",
            "A command uses the Docker API (docker -H, the docker.sock socket, port 2375) to start a privileged container or one that mounts the host's root filesystem: that is root on the host.",
            "Never mount the Docker socket into this container; remove the command and rebuild. Check hosts that ran it for unknown containers.",
            &["T1610", "T1611"],
        ),
        CONTAINER_ESCAPE => (
            "Container escape",
            "A command leaves the container for the host: nsenter into PID 1's namespaces, chroot into the host's root, mounting a host disk, or a cgroup release_agent.",
            "Do not run the image privileged (or at all); remove the command and rebuild. Check hosts that ran it for changes outside the container.",
            &["T1611"],
        ),
        MASS_SCANNER => (
            "Mass network scanner",
            "A command runs an internet-wide port scanner (masscan, zmap, zgrab, pnscan) with ports and a rate: worms use them to find more exposed Docker and Kubernetes APIs to infect.",
            "Remove the scanner and the step that runs it; check whether hosts that ran the image scanned others.",
            &["T1046"],
        ),
        KNOWN_BAD_HASH => (
            "Known-bad file (published IOC hash)",
            "The file's SHA-256 is listed in a published indicator-of-compromise report for a container miner or dropper campaign: it is that exact file.",
            "Do not run this image. Find which layer and build step added the file, rebuild from a trusted base, and check hosts that ran the image for the campaign's other indicators.",
            &["T1204.003", "T1496"],
        ),
        REPLACED_BINARY => (
            "Replaced system binary",
            "A file in a system path belongs to an installed package, but its content differs from the digest the package database recorded: it was replaced after installation (a miner dropped as /usr/bin/nginx, a trojaned ps, a patched library).",
            "Compare the file with the package's (reinstall the package and diff); rebuild the image from a trusted base without the step that replaced it.",
            &["T1036.005", "T1554"],
        ),
        LD_PRELOAD => (
            "Library preloaded into every process",
            "/etc/ld.so.preload names a library that no installed package provides: it is loaded into every dynamically linked program, the usual way rootkits hide miners and processes.",
            "Remove the entry and the library; rebuild from a trusted base and find the build step that added them.",
            &["T1574.006"],
        ),
        UNOWNED_EXECUTABLE => (
            "System executable no package owns",
            "An executable sits in a system path but no installed package lists it: something other than the package manager put it there.",
            "Find the build step that added the file; install software through the package manager or outside system paths.",
            &["T1036.005"],
        ),
        PKGDB_SKIPPED => (
            "Package database not checked",
            "The image has a package database imgscan could not read (an unsupported format, or one past a size bound), so its system binaries were not compared with what the packages installed.",
            "Nothing to fix in the image; verify system binaries another way (e.g. `rpm -Va` in a throwaway container) if it matters.",
            &[],
        ),
        _ => (
            "Scan incomplete",
            "The scan stopped at a bound or could not read part (or all) of the image, so it did not see everything.",
            "Raise the named bound (see the flag in the detail), or fix what kept the image from being read (access, network, a damaged image), then scan again.",
            &[],
        ),
    }
}
