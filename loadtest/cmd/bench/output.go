package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// write prints the report and writes it as bench.md and bench.json into
// the output directory: the one setup's report, or for a matrix the
// scaling-out summary followed by every setup's tables, each setup's own
// report also going into a directory of its own beside its api logs.
func (b *bench) write(matrix bool) error {
	if len(b.reports) == 0 {
		return nil
	}
	var md bytes.Buffer
	var doc any
	if matrix {
		for i := range b.reports {
			r := &b.reports[i]
			var own bytes.Buffer
			r.writeMarkdown(&own)
			if err := writeReport(filepath.Join(b.dir, r.Setup.Slug()), own.Bytes(), r); err != nil {
				return err
			}
		}
		s := scaleOf(b.rep.Machine, b.reports)
		s.writeMarkdown(&md, b.reports)
		doc = s
	} else {
		b.reports[0].writeMarkdown(&md)
		doc = &b.reports[0]
	}
	fmt.Fprintln(b.out)
	_, _ = b.out.Write(md.Bytes())
	if err := writeReport(b.dir, md.Bytes(), doc); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "\nwritten: %s/{bench.md,bench.json}", b.dir)
	if matrix {
		fmt.Fprint(b.out, " and a directory per setup with its bench.md, bench.json and api logs")
	}
	fmt.Fprintln(b.out)
	for _, r := range b.reports {
		for _, p := range r.Profiles {
			fmt.Fprintf(b.out, "profile: %s (go tool pprof %s)\n", p, p)
		}
	}
	return nil
}

// writeReport writes md as bench.md and doc as indented JSON, bench.json,
// into dir.
func writeReport(dir string, md []byte, doc any) error {
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	for name, data := range map[string][]byte{"bench.md": md, "bench.json": append(js, '\n')} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
