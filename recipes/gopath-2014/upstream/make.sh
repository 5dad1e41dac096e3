#!/bin/sh
# Recreates wordwrap.bundle (git) and humanize.hg (hg): the upstream repositories of the recipe's two
# dependencies, shipped here because the recipe must build without GitHub or Bitbucket. Every author,
# date and message is fixed, so the commit ids (and the abbreviated revs gobox.toml pins) never change;
# the bundles' bytes are the same again with the same git and hg (made with git 2.39, hg 6.3).
#   sh recipes/gopath-2014/upstream/make.sh    # prints each commit id; tip last
set -eu
cd "$(dirname "$0")"
out=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# No user or system config may leak into the commits (signing, hooks, default branch names).
export HOME="$work" GIT_CONFIG_NOSYSTEM=1 HGRCPATH= HGPLAIN=1 TZ=UTC LC_ALL=C
export GIT_AUTHOR_NAME=Gopher GIT_AUTHOR_EMAIL=gopher@example.org
export GIT_COMMITTER_NAME=Gopher GIT_COMMITTER_EMAIL=gopher@example.org

# --- github.com/gopher2014/wordwrap (git) -----------------------------------------------------------------
git init -q -b master "$work/wordwrap"
cd "$work/wordwrap"
gitcommit() {  # date message
    git add -A
    GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1" git commit -q -m "$2"
    echo "wordwrap $(git rev-parse HEAD) $2"
}
cat > wordwrap.go <<'GO'
// Package wordwrap wraps text at word boundaries.
package wordwrap

import "strings"

// Wrap breaks s into lines of at most width columns, between words.
func Wrap(s string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}
GO
gitcommit "2014-02-10T09:00:00Z" "wordwrap: greedy Wrap"
cat > README.md <<'MD'
wordwrap wraps text at word boundaries.

    go get github.com/gopher2014/wordwrap
MD
gitcommit "2014-03-02T09:00:00Z" "wordwrap: README"
cat > wordwrap.go <<'GO'
// Package wordwrap wraps text at word boundaries.
package wordwrap

import "strings"

// Wrap breaks s into lines of at most width columns, between words; lines after
// the first are indented by two spaces.
func Wrap(s string, width int) string {
	var lines []string
	line, indent := "", ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line, indent = "", "  "
		}
		if line == "" {
			line = indent
		} else {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}
GO
gitcommit "2014-09-15T09:00:00Z" "wordwrap: indent continuation lines"
git -c pack.threads=1 bundle create -q "$out/wordwrap.bundle" --all

# --- bitbucket.org/gopher2014/humanize (hg) ---------------------------------------------------------------
hg init "$work/humanize"
cd "$work/humanize"
hgcommit() {  # date message
    hg addremove -q
    hg commit -q -u "Gopher <gopher@example.org>" -d "$1" -m "$2"
    echo "humanize $(hg log -r . --template '{node}') $2"
}
cat > bytes.go <<'GO'
// Package humanize formats numbers for people.
package humanize

import "fmt"

// Bytes formats n in SI units: 1500000 is "1.5 MB".
func Bytes(n uint64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f, units := float64(n), "kMGTPE"
	i := -1
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.1f %cB", f, units[i])
}
GO
hgcommit "2014-01-20 10:00:00 +0000" "humanize: Bytes in SI units"
cat > comma.go <<'GO'
package humanize

import "strconv"

// Comma formats n with thousands separators: 1500000 is "1,500,000".
func Comma(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
GO
hgcommit "2014-05-11 10:00:00 +0000" "humanize: Comma"
cat > bytes.go <<'GO'
// Package humanize formats numbers for people.
package humanize

import "fmt"

// Bytes formats n in IEC units: 1500000 is "1.4 MiB".
func Bytes(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, units := float64(n), "KMGTPE"
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}
GO
hgcommit "2014-11-03 10:00:00 +0000" "humanize: Bytes in IEC units"
hg bundle -q --all -t bzip2-v2 "$out/humanize.hg.new"
mv "$out/humanize.hg.new" "$out/humanize.hg"
