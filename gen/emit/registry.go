package emit

import (
	"fmt"
	pathpkg "path"

	"github.com/dave/jennifer/jen"

	"github.com/urgen/urgen/gen/model"
)

// RegistryDir is the subdirectory of generated package pkg (its name)
// that holds the layout registry used by the round-trip tests: uapitest,
// nvmetest, ublktest.
func RegistryDir(pkg string) string { return pkg + "test" }

// registryTypes returns how the registry names its types: declared in the
// registry itself, or for a family with a base the base registry's.
func (e *emitter) registryType(name string) *jen.Statement {
	if b := e.opt.Base; b != nil {
		return jen.Qual(b.PkgPath+"/"+RegistryDir(pathpkg.Base(b.PkgPath)), name)
	}
	return jen.Id(name)
}

// registry emits uapitest/registry.go: every struct with a C type
// expression, every member with closures that read and write it through
// the generated field or accessor, and every constant's value. The
// round-trip test compares all of it with what gcc makes of the headers,
// so a struct from a new header is covered without editing the test.
func (e *emitter) registry(structs []*goStruct, sets []*constSet, loose []*constant) {
	reg := RegistryDir(e.opt.PkgName)
	f := jen.NewFilePathName(e.opt.PkgPath+"/"+reg, reg)
	f.HeaderComment(e.headerLine(""))
	f.PackageComment("Package " + reg + " lists every struct, member and constant of package " + e.opt.PkgName + "\nwith closures that access them through the generated fields and accessors,\nfor layout round-trip tests against a C compiler.")
	u := e.opt.PkgPath
	if e.opt.Base == nil {
		e.registryTypes(f)
	}
	f.Func().Id("neg").Params(jen.Id("v").Int64()).Uint64().Block(jen.Return(jen.Uint64().Call(jen.Id("v"))))
	e.registryEntries(f, u, structs, sets, loose)
	e.put(reg+"/registry.go", f)
}

// registryTypes declares the registry's types (the base family's registry
// declares them for the families built on it).
func (e *emitter) registryTypes(f *jen.File) {
	f.Comment("Struct is a generated struct and how C names it.")
	f.Type().Id("Struct").Struct(
		jen.Id("Go").String().Comment("Go type name"),
		jen.Id("C").String().Comment("C type expression, valid in sizeof"),
		jen.Id("Size").Uintptr().Comment("unsafe.Sizeof of the Go type"),
		jen.Id("Align").Uintptr().Comment("unsafe.Alignof of the Go type"),
		jen.Id("Members").Index().Id("Member"),
	)
	f.Comment("Member is a C member reached through a Go field or accessor.")
	f.Type().Id("Member").Struct(
		jen.Id("C").String().Comment("C member name, valid in offsetof"),
		jen.Id("Go").String().Comment("Go field or accessor name"),
		jen.Id("Accessor").Bool().Comment("reached through methods, not a field"),
		jen.Id("Flex").Bool().Comment("flexible array: Ptr gives its start"),
		jen.Id("Int").Int().Comment("integer size in bytes, or 0"),
		jen.Id("Size").Int().Comment("size in bytes (element size for Flex)"),
		jen.Id("Get").Func().Params(jen.Qual("unsafe", "Pointer")).Uint64().Comment("integers: value, sign-extended"),
		jen.Id("Set").Func().Params(jen.Qual("unsafe", "Pointer"), jen.Uint64()).Comment("integers: store, truncated"),
		jen.Id("Ptr").Func().Params(jen.Qual("unsafe", "Pointer")).Qual("unsafe", "Pointer").Comment("every member: its address"),
	)
	f.Comment("Constant is a generated constant's value.")
	f.Type().Id("Constant").Struct(
		jen.Id("C").String(),
		jen.Id("Go").String(),
		jen.Id("Bits").Uint64().Comment("two's complement bits"),
		jen.Id("Negative").Bool(),
	)
}

// registryEntries lists the structs and constants.
func (e *emitter) registryEntries(f *jen.File, u string, structs []*goStruct, sets []*constSet, loose []*constant) {

	qualified := func(named string, plain *jen.Statement) *jen.Statement {
		if named != "" {
			return jen.Qual(u, named)
		}
		return plain
	}
	// The lists are built by one append statement an entry, not composite
	// literals: go/printer's time grows faster than linearly in the
	// elements of a literal (a 100,000-member struct took most of a minute).
	entries := []jen.Code{jen.Var().Id("r").Index().Add(e.registryType("Struct")), jen.Var().Id("m").Index().Add(e.registryType("Member"))}
	var walk func(g *goStruct, cexpr string)
	walk = func(g *goStruct, cexpr string) {
		var members []jen.Code
		typ := jen.Qual(u, g.Go)
		cast := func() *jen.Statement { return jen.Parens(jen.Op("*").Qual(u, g.Go)).Call(jen.Id("p")) }
		p := jen.Id("p").Qual("unsafe", "Pointer")
		for _, fl := range g.Fields {
			if fl.Go == "_" {
				continue
			}
			d := jen.Dict{jen.Id("C"): jen.Lit(fl.C), jen.Id("Go"): jen.Lit(fl.Go), jen.Id("Size"): jen.Lit(int(e.sh.csize(fl.Type, e.m.Archs[0])))}
			if fl.Type.Kind == model.KindInt {
				goT := e.goType(fl.Type, "")
				d[jen.Id("Int")] = jen.Lit(int(fl.Type.Size))
				d[jen.Id("Get")] = jen.Func().Params(p).Uint64().Block(jen.Return(jen.Uint64().Call(jen.Add(goT).Call(cast().Dot(fl.Go)))))
				d[jen.Id("Set")] = jen.Func().Params(p, jen.Id("v").Uint64()).Block(cast().Dot(fl.Go).Op("=").Add(qualified(fl.Named, e.goType(fl.Type, ""))).Call(jen.Id("v")))
			}
			d[jen.Id("Ptr")] = jen.Func().Params(p).Qual("unsafe", "Pointer").Block(jen.Return(jen.Qual("unsafe", "Pointer").Call(jen.Op("&").Add(cast()).Dot(fl.Go))))
			members = append(members, jen.Values(d))
		}
		for _, a := range g.Access {
			d := jen.Dict{jen.Id("C"): jen.Lit(a.C), jen.Id("Go"): jen.Lit(a.Go), jen.Id("Accessor"): jen.True()}
			switch {
			case a.Flex:
				d[jen.Id("Flex")] = jen.True()
				d[jen.Id("Size")] = jen.Lit(int(e.sh.csize(a.Type.Elem, e.m.Archs[0])))
				d[jen.Id("Ptr")] = jen.Func().Params(p).Qual("unsafe", "Pointer").Block(jen.Return(jen.Qual("unsafe", "Pointer").Call(jen.Qual("unsafe", "SliceData").Call(cast().Dot(a.Go).Call(jen.Lit(0))))))
			case a.Type.Kind == model.KindInt:
				d[jen.Id("Int")] = jen.Lit(int(a.Type.Size))
				d[jen.Id("Size")] = jen.Lit(int(a.Type.Size))
				d[jen.Id("Get")] = jen.Func().Params(p).Uint64().Block(jen.Return(jen.Uint64().Call(cast().Dot(a.Go).Call())))
				d[jen.Id("Set")] = jen.Func().Params(p, jen.Id("v").Uint64()).Block(cast().Dot("Set" + a.Go).Call(e.goType(a.Type, "").Call(jen.Id("v"))))
				d[jen.Id("Ptr")] = jen.Func().Params(p).Qual("unsafe", "Pointer").Block(jen.Return(jen.Id("nil")))
			default:
				d[jen.Id("Size")] = jen.Lit(int(e.sh.csize(a.Type, e.m.Archs[0])))
				d[jen.Id("Ptr")] = jen.Func().Params(p).Qual("unsafe", "Pointer").Block(jen.Return(jen.Qual("unsafe", "Pointer").Call(cast().Dot(a.Go).Call())))
			}
			members = append(members, jen.Values(d))
		}
		entries = append(entries, jen.Id("m").Op("=").Make(jen.Index().Add(e.registryType("Member")), jen.Lit(0), jen.Lit(len(members))))
		for _, mem := range members {
			entries = append(entries, jen.Id("m").Op("=").Append(jen.Id("m"), e.registryType("Member").Add(mem)))
		}
		entries = append(entries, jen.Id("r").Op("=").Append(jen.Id("r"), e.registryType("Struct").Values(jen.Dict{
			jen.Id("Go"):      jen.Lit(g.Go),
			jen.Id("C"):       jen.Lit(cexpr),
			jen.Id("Size"):    jen.Qual("unsafe", "Sizeof").Call(typ.Clone().Values()),
			jen.Id("Align"):   jen.Qual("unsafe", "Alignof").Call(jen.Qual(u, g.Go).Values()),
			jen.Id("Members"): jen.Id("m"),
		})))
		for _, n := range g.Nested {
			member := n.C[len(g.C)+1:]
			walk(n, fmt.Sprintf("__typeof__(((%s *)0)->%s)", cexpr, member))
		}
	}
	for _, g := range structs {
		walk(g, g.C)
	}
	f.Comment("Structs lists every generated struct, nested ones after their parent.")
	f.Var().Id("Structs").Op("=").Id("structs").Call()
	entries = append(entries, jen.Return(jen.Id("r")))
	f.Func().Id("structs").Params().Index().Add(e.registryType("Struct")).Block(entries...)

	consts := []jen.Code{jen.Var().Id("r").Index().Add(e.registryType("Constant"))}
	add := func(c *constant) {
		v := jen.Uint64().Call(jen.Qual(u, c.Go))
		if c.Value.Negative {
			v = jen.Id("neg").Call(jen.Int64().Call(jen.Qual(u, c.Go)))
		}
		consts = append(consts, jen.Id("r").Op("=").Append(jen.Id("r"), e.registryType("Constant").Values(jen.Dict{jen.Id("C"): jen.Lit(c.C), jen.Id("Go"): jen.Lit(c.Go), jen.Id("Bits"): v, jen.Id("Negative"): jen.Lit(c.Value.Negative)})))
	}
	for _, s := range sets {
		for _, c := range s.Consts {
			add(c)
		}
	}
	for _, c := range loose {
		add(c)
	}
	f.Comment("Constants lists every generated constant.")
	f.Var().Id("Constants").Op("=").Id("constants").Call()
	consts = append(consts, jen.Return(jen.Id("r")))
	f.Func().Id("constants").Params().Index().Add(e.registryType("Constant")).Block(consts...)
}
