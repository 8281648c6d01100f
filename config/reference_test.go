package config

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

const (
	referenceStart = "<!-- config-reference -->"
	referenceEnd   = "<!-- /config-reference -->"
)

// TestReadmeReference keeps the README's settings table identical to
// ReferenceMarkdown: missing markers or a stale table fail with the table
// to paste.
func TestReadmeReference(t *testing.T) {
	t.Parallel()
	want := ReferenceMarkdown()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if err := compareReference(string(readme), want); err != nil {
		t.Fatalf("README.md: %v; %s", err, pasteHint(want))
	}
}

// compareReference checks the table between the markers in readme.
func compareReference(readme, want string) error {
	_, rest, ok1 := strings.Cut(readme, referenceStart)
	got, _, ok2 := strings.Cut(rest, referenceEnd)
	switch {
	case !ok1 || !ok2:
		return errors.New("config reference markers missing")
	case strings.TrimSpace(got) != strings.TrimSpace(want):
		return errors.New("config reference table is stale")
	}
	return nil
}

// pasteHint says how to bring the README up to date.
func pasteHint(table string) string {
	return "paste the table below between " + referenceStart + " and " + referenceEnd +
		" in README.md (print it with: go test ./config -run TestReadmeReference -v):\n\n" + table
}

func TestCompareReference(t *testing.T) {
	t.Parallel()
	table := ReferenceMarkdown()
	tests := []struct {
		name, readme string
		wantErr      bool
	}{
		{"matches", "# x\n" + referenceStart + "\n" + table + "\n" + referenceEnd + "\nmore", false},
		{"no markers", "# securechat\n", true},
		{"no end marker", referenceStart + "\n" + table, true},
		{"stale", referenceStart + "\n| old |\n" + referenceEnd, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := compareReference(tt.readme, table); (err != nil) != tt.wantErr {
				t.Errorf("compareReference = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestReferenceCoversEverySetting(t *testing.T) {
	t.Parallel()
	table := ReferenceMarkdown()
	var usage bytes.Buffer
	Usage(&usage)
	for _, s := range settings() {
		for _, want := range []string{"`--" + s.name + "`", "`" + s.envName() + "`"} {
			if !strings.Contains(table, want) {
				t.Errorf("ReferenceMarkdown lacks %s", want)
			}
		}
		if !strings.Contains(usage.String(), "--"+s.name) {
			t.Errorf("Usage lacks --%s", s.name)
		}
	}
	if strings.Count(table, "\n") != len(settings())+4 {
		t.Errorf("want a header, a rule, one row per setting and the oper and password rows:\n%s", table)
	}
}

func TestEnvNames(t *testing.T) {
	t.Parallel()
	s, _ := lookup(settings(), "listen-plain")
	if got := s.envName(); got != "SECURECHAT_LISTEN_PLAIN" {
		t.Errorf("envName = %q", got)
	}
}
