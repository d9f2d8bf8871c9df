package opa

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Topdown checks for cancellation between evaluation steps; a built-in call
// is one step, and only a few check inside (numbers.range, net.cidr_expand,
// concat, replace, strings.replace_n, regex.replace). A built-in one call of
// which can run long or allocate without bound on operands a policy chooses
// is therefore refused or bounded here. The others tenants may call (pinned
// in builtins_test.go) cost about the size of their operands (trim and its
// kin, given a long non-ASCII cutset, the product of the two), and operands
// cannot outgrow what a policy builds before its deadline. What no
// capability can refuse, the language's own comparisons on a value built of
// shared parts, is left to the deadline (runaway.go).

// refusedBuiltins are left out of tenant capabilities, each for a reason,
// on top of every non-deterministic built-in (http.send, opa.runtime,
// time.now_ns, rand.intn, uuid.rfc4122, io.jwt.decode_verify,
// io.jwt.encode_sign*, json.match_schema, json.verify_schema, ...).
var refusedBuiltins = map[string]string{
	// Network, runtime, clock, randomness, policy text, the server's logs.
	"http.send":              "reaches the network",
	"net.lookup_ip_addr":     "reaches the network (DNS)",
	"providers.aws.sign_req": "signs requests for the network with the clock",
	"opa.runtime":            "reads the server's environment and configuration",
	"rego.parse_module":      "parses policy text: the compiler's cost, at run time",
	"trace":                  "writes to the server's logs",
	"time.now_ns":            "the clock: policies read input.request.time",
	"rand.intn":              "randomness",
	"uuid.rfc4122":           "randomness",

	// One call runs long or allocates without bound, deaf to the deadline.
	"strings.render_template":                   "Go templates loop inside one call ({{range 200000000}}: 17 s, 2.2 GB)",
	"array.flatten":                             "allocates the nested arrays' total length at once: n references to one m-long array ask for n×m (the process dies out of memory)",
	"bits.lsh":                                  "bits.lsh(1, n) allocates n bits (the process dies out of memory)",
	"product":                                   "multiplies exact integers: n large factors cost n² (131,072 factors: 20 s, 11 GB)",
	"walk":                                      "visits every node of a value, and a value built of shared parts has exponentially many",
	"json.marshal":                              "serialises a value whole: one built of shared parts is exponentially long (24 levels: 22 s, 3 GB)",
	"json.marshal_with_options":                 "as json.marshal",
	"yaml.marshal":                              "as json.marshal",
	"graph.reachable_paths":                     "lists every path: exponentially many in a graph of diamonds",
	"net.cidr_contains_matches":                 "returns every (network, address) pair: n×m results from n+m operands",
	"net.cidr_merge":                            "deletes from a slice as it merges: quadratic in the number of networks",
	"regex.find_all_string_submatch_n":          "returns every group of every match: groups × matches (5.6 GB in one call)",
	"regex.globs_match":                         "backtracking intersection, exponential in wildcards (12 against 41 characters: over a minute)",
	"glob.match":                                "gobwas/glob backtracks, exponential in wildcards (12 against 61 characters: over 30 s); regex.match is linear",
	"graphql.is_valid":                          "GraphQL validation is super-linear (a 30 KB query: 4.8 s, 3.7 GB)",
	"graphql.parse":                             "as graphql.is_valid",
	"graphql.parse_and_verify":                  "as graphql.is_valid",
	"graphql.parse_query":                       "as graphql.is_valid",
	"graphql.parse_schema":                      "as graphql.is_valid",
	"graphql.schema_is_valid":                   "as graphql.is_valid",
	"io.jwt.verify_rs256":                       "RSA on a key the policy supplies: crypto/rsa bounds no key size, and the cost grows faster than the key",
	"io.jwt.verify_rs384":                       "as io.jwt.verify_rs256",
	"io.jwt.verify_rs512":                       "as io.jwt.verify_rs256",
	"io.jwt.verify_ps256":                       "as io.jwt.verify_rs256",
	"io.jwt.verify_ps384":                       "as io.jwt.verify_rs256",
	"io.jwt.verify_ps512":                       "as io.jwt.verify_rs256",
	"crypto.x509.parse_and_verify_certificates": "verifies RSA signatures of any key size along the chain (as io.jwt.verify_rs256)",
	"crypto.x509.parse_and_verify_certificates_with_options": "as crypto.x509.parse_and_verify_certificates",
	"crypto.x509.parse_keypair":                              "parsing a private key checks it with arithmetic that grows faster than the key (as io.jwt.verify_rs256)",
	"crypto.x509.parse_rsa_private_key":                      "as crypto.x509.parse_keypair",
	"crypto.parse_private_keys":                              "as crypto.x509.parse_keypair",
}

// Bounds of the bounded built-ins. A call over one halts the evaluation:
// the decision is denied, as at the deadline, instead of the rule being
// undefined (an undefined deny rule would let the request through).
const (
	// maxOperandSize bounds the operands of built-ins that amplify them,
	// in size() units (about bytes).
	maxOperandSize = 1 << 20
	// maxPattern bounds a regular expression: topdown caches 100 compiled
	// ones for the whole process, at about 50 bytes per pattern byte.
	maxPattern = 16 << 10
	// fmtMaxWidth is the widest width or precision fmt honours.
	fmtMaxWidth = 1_000_000
)

// bound says what to check before a built-in runs.
type bound struct {
	size     bool  // the operands together within maxOperandSize
	patterns []int // these operands (strings) within maxPattern
	format   bool  // operand 0 is a fmt format: add its widths to the size
}

// boundedBuiltins run with their operands checked first. OPA looks a
// standard built-in up by name in one registry for the whole process, so
// the bounds hold for every evaluation: the base's and uploaded tests' too.
var boundedBuiltins = map[string]bound{
	// Render values whole: a value built of shared parts is exponentially long.
	"sprintf":                  {size: true, format: true},
	"internal.template_string": {size: true}, // $"..." strings
	"object.union":             {size: true}, // merges recursively
	"object.union_n":           {size: true},
	// One term (about 60 bytes) per piece of their input.
	"split":                  {size: true},
	"strings.split_n":        {size: true},
	"indexof_n":              {size: true},
	"json.unmarshal":         {size: true},
	"yaml.unmarshal":         {size: true},
	"urlquery.decode_object": {size: true},
	"regex.split":            {size: true, patterns: []int{0}},
	"regex.find_n":           {size: true, patterns: []int{0}},
	// Patterns compiled and cached process-wide.
	"regex.match":          {patterns: []int{0}},
	"re_match":             {patterns: []int{0}},
	"regex.is_valid":       {patterns: []int{0}},
	"regex.replace":        {patterns: []int{1}},
	"regex.template_match": {patterns: []int{0}},
}

func init() {
	for name, b := range boundedBuiltins {
		// A missing one is caught by TestBoundedBuiltinsExist.
		if f := topdown.GetBuiltin(name); f != nil {
			topdown.RegisterBuiltinFunc(name, b.wrap(name, f))
		}
	}
}

func (b bound) wrap(name string, f topdown.BuiltinFunc) topdown.BuiltinFunc {
	return func(bctx topdown.BuiltinContext, operands []*ast.Term, iter func(*ast.Term) error) error {
		if err := b.check(operands); err != nil {
			return topdown.Halt{Err: &topdown.Error{Code: topdown.BuiltinErr, Location: bctx.Location,
				Message: fmt.Sprintf("%s: %v", name, err)}}
		}
		return f(bctx, operands, iter)
	}
}

func (b bound) check(operands []*ast.Term) error {
	for _, i := range b.patterns {
		if i < len(operands) {
			if s, ok := operands[i].Value.(ast.String); ok && len(s) > maxPattern {
				return fmt.Errorf("pattern of %d bytes, over the sandbox's limit of %d", len(s), maxPattern)
			}
		}
	}
	if !b.size {
		return nil
	}
	n := 0
	if b.format && len(operands) > 0 {
		if s, ok := operands[0].Value.(ast.String); ok {
			n = formatWidths(string(s))
		}
	}
	for _, t := range operands {
		if n = size(t, n, maxOperandSize); n > maxOperandSize {
			return fmt.Errorf("operands over the sandbox's limit of %d bytes", maxOperandSize)
		}
	}
	return nil
}

// size adds t's size to n: one per value (and per key), strings and
// numbers by their length. It stops past limit, so it costs at most limit
// steps even on a value built of shared parts, whose full size is
// exponential. Its depth is the value's nesting, which a policy builds one
// expression per level.
func size(t *ast.Term, n, limit int) int {
	n++
	switch v := t.Value.(type) {
	case ast.String:
		n += len(v)
	case ast.Number:
		n += len(v)
	case *ast.Array:
		for i := 0; i < v.Len() && n <= limit; i++ {
			n = size(v.Elem(i), n, limit)
		}
	case ast.Set:
		n = setSize(v, n, limit)
	case ast.Object:
		n = objectSize(v, n, limit)
	}
	return n
}

// setSize and objectSize keep their closures, which move n to the heap,
// out of size: strings, a built-in's usual operands, allocate nothing.
func setSize(s ast.Set, n, limit int) int {
	s.Until(func(e *ast.Term) bool { n = size(e, n, limit); return n > limit })
	return n
}

func objectSize(o ast.Object, n, limit int) int {
	o.Until(func(k, v *ast.Term) bool { n = size(v, size(k, n, limit), limit); return n > limit })
	return n
}

// formatWidths adds up the widths and precisions a fmt format asks for (a
// '*' counts as the widest fmt allows), which sprintf's output holds on top
// of its operands: "%0999999d" is a megabyte from a ten-byte format.
func formatWidths(format string) int {
	total := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		for i++; i < len(format) && isFlag(format[i]); i++ {
		}
		for part := 0; part < 2 && i < len(format); part++ { // width, then .precision
			if part == 1 {
				if format[i] != '.' {
					break
				}
				i++
			}
			if i < len(format) && format[i] == '*' {
				total += fmtMaxWidth
				i++
				continue
			}
			w := 0
			for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
				w = min(w*10+int(format[i]-'0'), fmtMaxWidth)
			}
			total += w
		}
	}
	return total
}

func isFlag(c byte) bool { return c == '+' || c == '-' || c == '#' || c == ' ' || c == '0' }
