package config

import (
	"bufio"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the module's root, two levels above this package.
const repoRoot = "../.."

// configDoc is the operator's manual whose Configuration table must list
// exactly the variables the binaries read.
const configDoc = "docs/operations.md"

// envVars returns the variables the env parser reads into a value of type
// t: every field's `env` tag, through nested and embedded structs (with
// their envPrefix), as the parser walks them.
func envVars(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("env")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case name == "-":
		case tagged && name != "":
			out = append(out, prefix+name)
		case f.Type.Kind() == reflect.Struct:
			out = append(out, envVars(f.Type, prefix+f.Tag.Get("envPrefix"))...)
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			out = append(out, envVars(f.Type.Elem(), prefix+f.Tag.Get("envPrefix"))...)
		}
	}
	return out
}

// docRow is one row of the Configuration table: the variable and the
// binaries its second column names.
type docRow struct {
	api, worker bool
}

var (
	configRow  = regexp.MustCompile("^\\|\\s*`(SECKILL_[A-Z0-9_]+)`\\s*\\|([^|]*)\\|")
	wordAPI    = regexp.MustCompile(`\bapi\b`)
	wordWorker = regexp.MustCompile(`\bworker\b`)
)

// configTable reads the table under the "## Configuration" heading of the
// manual, keyed by variable; a variable listed twice fails tb.
func configTable(tb testing.TB) map[string]docRow {
	tb.Helper()
	f, err := os.Open(filepath.Join(repoRoot, configDoc))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows := map[string]docRow{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == "Configuration"
			continue
		}
		m := configRow.FindStringSubmatch(line)
		if !in || m == nil {
			continue
		}
		if _, dup := rows[m[1]]; dup {
			tb.Errorf("%s lists %s twice", configDoc, m[1])
		}
		rows[m[1]] = docRow{api: wordAPI.MatchString(m[2]), worker: wordWorker.MatchString(m[2])}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(rows) == 0 {
		tb.Fatalf("%s: no Configuration table found", configDoc)
	}
	return rows
}

// TestConfigurationTable holds the manual's Configuration table to the
// config structs both ways: every variable a binary reads is listed, with
// the binaries that read it, and every listed variable is read.
func TestConfigurationTable(t *testing.T) {
	read := map[string]docRow{}
	for _, v := range envVars(reflect.TypeFor[API](), "") {
		r := read[v]
		r.api = true
		read[v] = r
	}
	for _, v := range envVars(reflect.TypeFor[Worker](), "") {
		r := read[v]
		r.worker = true
		read[v] = r
	}
	if len(read) < 10 {
		t.Fatalf("found only %d variables in the config structs: the walk is broken", len(read))
	}
	doc := configTable(t)
	for _, v := range slices.Sorted(maps.Keys(read)) {
		d, ok := doc[v]
		switch {
		case !ok:
			t.Errorf("%s is read (api %v, worker %v) but not in the Configuration table of %s", v, read[v].api, read[v].worker, configDoc)
		case d != read[v]:
			t.Errorf("%s in %s: binary column says api %v, worker %v; the config structs read it in api %v, worker %v",
				v, configDoc, d.api, d.worker, read[v].api, read[v].worker)
		}
	}
	for _, v := range slices.Sorted(maps.Keys(doc)) {
		if _, ok := read[v]; !ok {
			t.Errorf("%s is in the Configuration table of %s, but no binary reads it", v, configDoc)
		}
	}
}

// mdLink is an inline link or image: ](target) or ](target "title").
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// codeSpan is inline code, whose brackets are not links.
var codeSpan = regexp.MustCompile("`[^`]*`")

// markdown is a document's links (outside code) and its headings' anchors.
type markdown struct {
	links   []string
	anchors map[string]bool
}

func readMarkdown(tb testing.TB, path string) markdown {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	md := markdown{anchors: map[string]bool{}}
	seen := map[string]int{}
	fenced := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if h, ok := heading(line); ok {
			slug := anchor(h)
			if n := seen[slug]; n > 0 {
				md.anchors[slug+"-"+strconv.Itoa(n)] = true
			} else {
				md.anchors[slug] = true
			}
			seen[slug]++
		}
		for _, m := range mdLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			md.links = append(md.links, m[1])
		}
	}
	return md
}

// heading returns an ATX heading's text.
func heading(line string) (string, bool) {
	hashes := len(line) - len(strings.TrimLeft(line, "#"))
	if hashes < 1 || hashes > 6 || !strings.HasPrefix(line[hashes:], " ") {
		return "", false
	}
	return strings.TrimSpace(line[hashes:]), true
}

// anchor is the fragment GitHub gives a heading: lower case, spaces as
// hyphens, every other character but letters, digits, '-' and '_' dropped.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocLinks checks every relative link of the README and the manuals:
// the file it names exists and, for a Markdown file, so does the heading
// its #fragment names.
func TestDocLinks(t *testing.T) {
	docs := []string{"README.md", "loadtest/README.md", "loadtest/BENCH.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range more {
		rel, _ := filepath.Rel(repoRoot, m)
		docs = append(docs, rel)
	}
	cache := map[string]markdown{}
	read := func(path string) markdown {
		if md, ok := cache[path]; ok {
			return md
		}
		md := readMarkdown(t, path)
		cache[path] = md
		return md
	}
	for _, doc := range docs {
		src := filepath.Join(repoRoot, doc)
		for _, link := range read(src).links {
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, frag, _ := strings.Cut(link, "#")
			path := src
			if target != "" {
				path = filepath.Join(filepath.Dir(src), target)
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s: link %q: %s does not exist", doc, link, target)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(path, ".md") && !read(path).anchors[frag] {
				t.Errorf("%s: link %q: no heading of %s has the anchor #%s", doc, link, filepath.Base(path), frag)
			}
		}
	}
}
