package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// write prints the report and writes bench.json, bench.md and bench.html:
// of the one setup into the output directory, or, for a matrix, of each
// setup into a directory of its own and the scaling-out summary with every
// setup's tables into the output directory.
func (b *bench) write(matrix bool) error {
	if !matrix {
		if len(b.reports) == 0 {
			return nil
		}
		r := &b.reports[0]
		var md bytes.Buffer
		r.writeMarkdown(&md)
		fmt.Fprintln(b.out)
		_, _ = b.out.Write(md.Bytes())
		if err := writeReport(b.dir, r, md.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(b.out, "\nwritten: %s/{bench.md,bench.json,bench.html}\n", b.dir)
		for _, p := range r.Profiles {
			fmt.Fprintf(b.out, "profile: %s (go tool pprof %s)\n", p, p)
		}
		return nil
	}
	for i := range b.reports {
		r := &b.reports[i]
		var md bytes.Buffer
		r.writeMarkdown(&md)
		if err := writeReport(filepath.Join(b.dir, r.Setup.Slug()), r, md.Bytes()); err != nil {
			return err
		}
	}
	s := scaleOf(b.rep.Machine, b.reports)
	var md, js bytes.Buffer
	s.writeMarkdown(&md, b.reports)
	if err := s.writeJSON(&js); err != nil {
		return err
	}
	fmt.Fprintln(b.out)
	_, _ = b.out.Write(md.Bytes())
	for name, data := range map[string][]byte{"bench.md": md.Bytes(), "bench.json": js.Bytes()} {
		if err := os.WriteFile(filepath.Join(b.dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	fmt.Fprintf(b.out, "\nwritten: %s/{bench.md,bench.json} and a directory per setup with its bench.md, bench.json, bench.html and api logs\n", b.dir)
	for _, r := range b.reports {
		for _, p := range r.Profiles {
			fmt.Fprintf(b.out, "profile: %s (go tool pprof %s)\n", p, p)
		}
	}
	return nil
}

// writeReport writes one setup's bench.md (already rendered), bench.json
// and bench.html into dir.
func writeReport(dir string, r *report, md []byte) error {
	var js, page bytes.Buffer
	if err := r.writeJSON(&js); err != nil {
		return err
	}
	if err := r.writeHTML(&page); err != nil {
		return fmt.Errorf("render bench.html: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	for name, data := range map[string][]byte{"bench.md": md, "bench.json": js.Bytes(), "bench.html": page.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
