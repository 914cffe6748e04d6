package main

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/kommunal-cloud/kcs"

// layers ranks the top-level packages: imports may only point to a lower
// rank (cmd → s3api → node → erasure). bench measures everything below cmd.
var layers = map[string]int{"cmd": 4, "bench": 3, "s3api": 3, "node": 2, "erasure": 1}

// s3apiMayImport reports whether s3api (its subpackages and tests too) may
// import a package under node/: only the object layer's vocabulary
// (node/objapi, with its in-memory layer and conformance suite below it)
// and the checksum algorithms, all leaves. The object layer itself
// (package node) reaches s3api only through cmd/kcs, which hands a
// *node.Node to s3api.New.
func s3apiMayImport(imp string) bool {
	objapi := module + "/node/objapi"
	return imp == objapi || strings.HasPrefix(imp, objapi+"/") || imp == module+"/node/checksum"
}

// s3apiMustNotLink are import path prefixes that no package s3api's
// non-test code builds on may have: Raft and bbolt belong to the object
// layer's metadata, not to HTTP handling.
var s3apiMustNotLink = []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt"}

func layerOf(importPath string) (string, bool) {
	rest, ok := strings.CutPrefix(importPath, module+"/")
	if !ok {
		return "", false
	}
	top, _, _ := strings.Cut(rest, "/")
	return top, true
}

// TestImportsPointDown fails when a package imports one of ours from its
// own layer's parent or from a higher layer, as pebble's internal/lint does,
// and when s3api imports more of node than s3apiMayImport or links Raft or
// bbolt.
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
		if top == "s3api" {
			for _, imp := range slices.Concat(pkg.Imports, pkg.TestImports, pkg.XTestImports) {
				if itop, _ := layerOf(imp); itop == "node" && !s3apiMayImport(imp) {
					t.Errorf("%s imports %s: s3api speaks to the object layer through node/objapi and may import no other part of node", self, imp)
				}
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
	t.Run("s3api links no metadata store", s3apiLinksNoMetadataStore)
}

// s3apiLinksNoMetadataStore fails when s3api's packages build on Raft or
// bbolt, even through a package in between.
func s3apiLinksNoMetadataStore(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/s3api/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps found only %q", deps)
	}
	for _, dep := range deps {
		for _, bad := range s3apiMustNotLink {
			if dep == bad || strings.HasPrefix(dep, bad+"/") || strings.HasPrefix(dep, bad+"-") {
				t.Errorf("s3api links %s: it must not depend on the metadata store (go list -deps %s/s3api/...)", dep, module)
			}
		}
	}
}
