#!/usr/bin/env bash
# Builds tenax-base:local, the base of the Tenax image, from what is on this machine: no
# registry is needed. It holds a jlink'ed Java 17 runtime, the shared libraries that the
# runtime and libtorch link against (taken from this host's Debian), a static busybox for a
# shell, and a non-root user 'tenax' (uid 1000). Jib then adds the jars and libtorch on top.
#
#   deploy/image/build-base.sh [--force]      (needs docker; run as root or a docker user)
set -euo pipefail

image=${TENAX_BASE_IMAGE:-tenax-base:local}
if [ "${1:-}" != --force ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image is already built (--force builds it again)"
  exit 0
fi
for tool in jlink ldd; do
  command -v "$tool" >/dev/null || { echo "build-base: $tool not found; install a Java 17 JDK (and libc-bin)" >&2; exit 2; }
done
java_home=$(dirname "$(dirname "$(readlink -f "$(command -v jlink)")")")
[ -d "$java_home/jmods" ] || { echo "build-base: $java_home has no jmods (needs a full JDK)" >&2; exit 2; }
# busybox for a shell; fontconfig and one font for the run report's charts.
fontconfig=/usr/lib/x86_64-linux-gnu/libfontconfig.so.1
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if ! command -v busybox >/dev/null || [ ! -e "$fontconfig" ] || [ ! -e "$font" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static libfontconfig1 fonts-dejavu-core >/dev/null
  else
    echo "build-base: needs busybox, fontconfig and a font (apt-get install busybox-static libfontconfig1" \
      "fonts-dejavu-core)" >&2
    exit 2
  fi
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# The Java runtime: the modules Tenax and its libraries use (Pekko and Kryo need
# jdk.unsupported, H2 and Slick java.sql, TLS jdk.crypto.ec, the images java.desktop).
modules=java.base,java.compiler,java.desktop,java.instrument,java.logging,java.management,java.naming,\
java.net.http,java.scripting,java.security.jgss,java.security.sasl,java.sql,java.transaction.xa,java.xml,\
jdk.crypto.ec,jdk.crypto.cryptoki,jdk.management,jdk.naming.dns,jdk.net,jdk.unsupported,jdk.zipfs,jdk.jfr,\
jdk.management.jfr,jdk.jcmd,jdk.attach
jlink --module-path "$java_home/jmods" --add-modules "$modules" --strip-debug --no-man-pages \
  --no-header-files --compress=2 --output "$root/opt/java"

# Every shared library the runtime, fontconfig and libtorch need, from this host (Debian
# bookworm's glibc). libtorch 2.7.1 and DJL's JNI library from the Maven jars link against
# exactly these (ldd), beside the ones they bring themselves.
libtorch_needs="libstdc++.so.6 libgcc_s.so.1 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libc.so.6"
system_lib=/lib/x86_64-linux-gnu
# (The X11 parts of java.desktop are left out: the image is headless.)
rm -f "$root"/opt/java/lib/libawt_xawt.so "$root"/opt/java/lib/libsplashscreen.so "$root"/opt/java/lib/libjawt.so
needed=$( { find "$root/opt/java" -name '*.so*' -type f; echo "$root/opt/java/bin/java"; echo "$fontconfig"; } \
  | xargs -r ldd 2>/dev/null | awk '/=> \//{print $3} /^\s*\/lib/{print $1}' | grep -E '^/(usr/)?lib' | sort -u)
for lib in $libtorch_needs; do
  [ -e "$system_lib/$lib" ] || { echo "build-base: $system_lib/$lib is missing" >&2; exit 2; }
  needed="$needed $system_lib/$lib"
done
# Debian's merged /usr: /lib and /lib64 are links into /usr.
mkdir -p "$root/usr/lib" "$root/usr/lib64"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
for lib in $needed "$fontconfig" /lib64/ld-linux-x86-64.so.2; do
  real=$(readlink -f "$lib")
  link=/usr${lib#/usr}
  mkdir -p "$root$(dirname "$real")" "$root$(dirname "$link")"
  cp -n "$real" "$root$real"
  [ "$link" = "$real" ] || ln -sf "$real" "$root$link"
done
# glibc's name service: files and DNS are built into libc.so.6 since 2.34.
mkdir -p "$root/etc" "$root/bin" "$root/tmp" "$root/home/tenax" "$root/var/lib/tenax"
chmod 1777 "$root/tmp"
cp "$(command -v busybox)" "$root/bin/busybox"
for tool in sh ls cat ps kill sleep env mkdir rm cp mv df du find grep wget tail head; do
  ln -s busybox "$root/bin/$tool"
done
printf 'root:x:0:0:root:/root:/bin/sh\ntenax:x:1000:1000:tenax:/home/tenax:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\ntenax:x:1000:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
cp -rL /etc/fonts "$root/etc/fonts"
mkdir -p "$root/usr/share/fonts/truetype/dejavu"
cp /usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf "$root/usr/share/fonts/truetype/dejavu/"
chown 1000:1000 "$root/home/tenax" "$root/var/lib/tenax"

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/opt/java/bin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV JAVA_HOME=/opt/java' \
  --change 'USER 1000:1000' \
  --change 'WORKDIR /home/tenax' \
  - "$image" >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
