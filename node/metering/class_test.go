package metering

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// routerOps returns the operation names s3api's router gives requests:
// the first argument of every route.to and route.fail call in
// s3api/router.go. (Read from the source: metering, under node, may not
// import s3api.)
func routerOps(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../s3api/router.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	add := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			op, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			ops[op] = true
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && len(n.Args) > 0 && (sel.Sel.Name == "to" || sel.Sel.Name == "fail") {
				add(n.Args[0])
			}
		case *ast.AssignStmt:
			// op, h := "UploadPart", (*Server).uploadPart
			for i, l := range n.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name == "op" && len(n.Rhs) == len(n.Lhs) {
					add(n.Rhs[i])
				}
			}
		}
		return true
	})
	if len(ops) < 30 {
		t.Fatalf("found only %d operations in s3api/router.go: %v; has the router changed shape?", len(ops), slices.Sorted(maps.Keys(ops)))
	}
	return ops
}

// architectureTable returns the class table of ARCHITECTURE.md's section
// "Traffic metering": operation → class.
func architectureTable(t *testing.T) map[string]Class {
	t.Helper()
	b, err := os.ReadFile("../../ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n### Traffic metering\n")
	if !ok {
		t.Fatal("ARCHITECTURE.md has no section Traffic metering")
	}
	sec, _, _ = strings.Cut(sec, "\n### ")
	table := map[string]Class{}
	row := regexp.MustCompile(`^\| ([a-z]+) \| (.*) \|$`)
	op := regexp.MustCompile("`([A-Za-z0-9]+)`")
	for _, line := range strings.Split(sec, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil || m[1] == "class" {
			continue
		}
		var c Class
		if err := c.UnmarshalText([]byte(m[1])); err != nil {
			t.Errorf("ARCHITECTURE.md: %q: %v", line, err)
			continue
		}
		for _, o := range op.FindAllStringSubmatch(m[2], -1) {
			if prev, dup := table[o[1]]; dup {
				t.Errorf("ARCHITECTURE.md lists %s as %s and %s", o[1], prev, c)
			}
			table[o[1]] = c
		}
	}
	return table
}

// TestEveryOperationHasAClass: every operation the router names has an
// entry in opClass (a new one must be classed on purpose, not fall to
// Admin by default), opClass names no operation the router lacks, and
// ARCHITECTURE.md's table says the same as opClass.
func TestEveryOperationHasAClass(t *testing.T) {
	ops := routerOps(t)
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		if _, ok := opClass[op]; !ok && op != "MethodNotAllowed" {
			t.Errorf("s3api routes to %s, which has no class in opClass (class.go) and ARCHITECTURE.md", op)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(opClass)) {
		if !ops[op] {
			t.Errorf("opClass classes %s, an operation s3api's router never names", op)
		}
	}
	table := architectureTable(t)
	if !maps.Equal(table, opClass) {
		for _, op := range slices.Sorted(maps.Keys(opClass)) {
			if c, ok := table[op]; !ok || c != opClass[op] {
				t.Errorf("ARCHITECTURE.md classes %s as %v (listed: %v), class.go as %v", op, c, ok, opClass[op])
			}
		}
		for op := range table {
			if _, ok := opClass[op]; !ok {
				t.Errorf("ARCHITECTURE.md classes %s, which class.go does not", op)
			}
		}
	}
	// What the router names without an operation behind it is Admin.
	for _, op := range []string{"MethodNotAllowed", "Unknown", "PUT ?policy", ""} {
		if c := ClassOf(op); c != Admin {
			t.Errorf("ClassOf(%q) = %v, want admin", op, c)
		}
	}
}

func TestClassText(t *testing.T) {
	for _, c := range Classes() {
		b, err := c.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Class
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("%v: %q → %v, %v", c, b, back, err)
		}
	}
	if _, err := Class(NumClasses).MarshalText(); err == nil {
		t.Error("a class beyond the last marshals")
	}
	var c Class
	if err := c.UnmarshalText([]byte("billing")); err == nil {
		t.Error("an unknown class name unmarshals")
	}
}
