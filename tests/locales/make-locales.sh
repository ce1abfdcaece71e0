#!/bin/sh
# The locales the tests print numbers in, compiled from Debian's `locales` sources into a
# private directory (LOCPATH) so that nothing is installed on the machine and a machine
# without them generated still runs every locale test.
#   make-locales.sh OUTDIR STAMP
set -eu
out=$1
stamp=$2
for source in /usr/share/i18n/locales/en_US /usr/share/i18n/locales/de_DE /usr/share/i18n/locales/C; do
  [ -f "$source" ] || { echo "make-locales.sh: $source is missing (apt-get install locales)" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out"
# en_US groups by ',' and de_DE by '.' with a ',' decimal point; C.UTF-8 is Debian's default
# in containers and groups nothing, like C.
localedef -i en_US -f UTF-8 "$out/en_US.UTF-8"
localedef -i de_DE -f UTF-8 "$out/de_DE.UTF-8"
localedef -i C -f UTF-8 "$out/C.UTF-8"
touch "$stamp"
