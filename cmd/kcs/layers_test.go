package main

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/kommunal-cloud/kcs"

// layers ranks the top-level packages: imports may only point to a lower
// rank (cmd → s3api → node → erasure). bench measures everything below cmd.
var layers = map[string]int{"cmd": 4, "bench": 3, "s3api": 3, "node": 2, "erasure": 1}

func layerOf(importPath string) (string, bool) {
	rest, ok := strings.CutPrefix(importPath, module+"/")
	if !ok {
		return "", false
	}
	top, _, _ := strings.Cut(rest, "/")
	return top, true
}

// TestImportsPointDown fails when a package imports one of ours from its
// own layer's parent or from a higher layer, as pebble's internal/lint does.
func TestImportsPointDown(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		self := module + "/" + filepath.ToSlash(rel)
		top, _ := layerOf(self)
		rank, known := layers[top]
		if !known {
			t.Errorf("%s: top-level directory %q has no layer; add it to layers", rel, top)
			return nil
		}
		checked++
		for _, imp := range pkg.Imports {
			itop, ours := layerOf(imp)
			if !ours {
				continue
			}
			if itop == top {
				continue
			}
			if layers[itop] >= rank {
				t.Errorf("%s imports %s: imports must point down (cmd → s3api → node → erasure)", self, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 4 {
		t.Fatalf("only %d packages checked; the walk is broken", checked)
	}
}
