#!/bin/sh
# Builds the Debian package (npm run package): nfgit bundled with esbuild (an ES module and its chunks), the
# systemd units, the default configuration, the git hooks. Uses Debian's own dpkg-deb; the path of
# the .deb is the LAST line printed. Output: .build/nfgit_VERSION_all.deb
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out="$top/.build"
stage="$out/root"
upstream=$(node -p 'require("./package.json").version')
# A Debian revision: the package is built from the upstream tree, not native to Debian.
version="$upstream-1"
deb="$out/nfgit_${version}_all.deb"
# Reproducible timestamps: the last commit's time (dpkg-deb honours SOURCE_DATE_EPOCH too).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

rm -rf "$stage" "$deb" "$out/doc"
umask 022
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/lib/nfgit" "$stage/usr/lib/systemd/system" \
	"$stage/etc/nfgit" "$stage/usr/share/nfgit/hooks" "$stage/usr/share/doc/nfgit" \
	"$stage/usr/share/lintian/overrides" "$stage/usr/share/man/man8" "$stage/usr/share/man/man5" \
	"$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions"

# The bundle: not executable, run by /usr/bin/nfgit (so no shebang line, which would name
# /usr/bin/env); its chunks beside it, loaded as needed.
rm -rf "$out/bundle"
node packaging/bundle.mjs "$out/bundle"
sed '1{/^#!/d}' "$out/bundle/nfgit.mjs" >"$stage/usr/lib/nfgit/nfgit.mjs"
chmod 0644 "$stage/usr/lib/nfgit/nfgit.mjs"
mkdir -p "$stage/usr/lib/nfgit/chunks"
install -m 0644 "$out"/bundle/chunks/*.mjs "$stage/usr/lib/nfgit/chunks/"

cat >"$stage/usr/bin/nfgit" <<'WRAPPER'
#!/bin/sh
# nfgit is an ES module bundle run by Debian's Node.js (the package's nodejs dependency), never
# whatever `node` comes first on PATH; `nfgit hooks install` takes its hooks from here.
NFGIT_HOOKS_DIR=${NFGIT_HOOKS_DIR:-/usr/share/nfgit/hooks}
export NFGIT_HOOKS_DIR
exec /usr/bin/node /usr/lib/nfgit/nfgit.mjs "$@"
WRAPPER
chmod 0755 "$stage/usr/bin/nfgit"

install -m 0644 packaging/systemd/nfgit.service packaging/systemd/nfgit-restore.service packaging/systemd/nfgit-keygen.service \
	"$stage/usr/lib/systemd/system/"
install -m 0644 packaging/config.yaml "$stage/etc/nfgit/config.yaml"

# Manual pages and completion, generated from the program's own command definitions and the
# README's configuration table (packaging/man.mjs), so that they cannot drift from --help.
node packaging/man.mjs "$out/doc"
gzip -9n -c "$out/doc/nfgit.8" >"$stage/usr/share/man/man8/nfgit.8.gz"
gzip -9n -c "$out/doc/nfgit.yaml.5" >"$stage/usr/share/man/man5/nfgit.yaml.5.gz"
chmod 0644 "$stage/usr/share/man/man8/nfgit.8.gz" "$stage/usr/share/man/man5/nfgit.yaml.5.gz"
install -m 0644 "$out/doc/nfgit.bash" "$stage/usr/share/bash-completion/completions/nfgit"
install -m 0644 "$out/doc/_nfgit" "$stage/usr/share/zsh/vendor-completions/_nfgit"

# Whatever git hooks the tree has (hooks/ may not exist yet): executables stay executable.
if [ -d hooks ]; then
	for f in hooks/*; do
		[ -f "$f" ] || continue
		if [ -x "$f" ]; then mode=0755; else mode=0644; fi
		install -m "$mode" "$f" "$stage/usr/share/nfgit/hooks/"
	done
fi

install -m 0644 packaging/debian/copyright "$stage/usr/share/doc/nfgit/copyright"
gzip -9n -c README.md >"$stage/usr/share/doc/nfgit/README.md.gz"
{
	printf 'nfgit (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from the nfgit repository at %s by npm run package.\n\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	printf ' -- nfgit maintainers <nfgit@example.invalid>  %s\n' "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$stage/usr/share/doc/nfgit/changelog.Debian.gz"
chmod 0644 "$stage/usr/share/doc/nfgit/"*

install -m 0644 packaging/debian/lintian-overrides "$stage/usr/share/lintian/overrides/nfgit"

for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$stage/DEBIAN/$s"; done
echo /etc/nfgit/config.yaml >"$stage/DEBIAN/conffiles"
chmod 0644 "$stage/DEBIAN/conffiles"
size=$(du -k -s --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/debian/control.in >"$stage/DEBIAN/control"
(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
