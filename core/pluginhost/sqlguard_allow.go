package pluginhost

// The allow-lists of plugin SQL. Widening one is a security review: a name
// here can be called or used by every plugin, in every tenant. The test
// TestAllowListsArePinned holds a digest of each list, so a change to one
// fails until the digest is updated along with it.

// allowedFunctions are the pg_catalog functions (every overload of each
// name) a plugin may call: pure, bounded computations on values a product
// needs. Nothing that runs SQL given as text (query_to_xml, ts_stat, ...),
// reads or changes the session or the server (set_config, current_setting,
// pg_*, version, setseed), takes locks (advisory locks), touches large
// objects, files or other databases, uses sequences by name (nextval:
// defaults on the plugin's own columns do that), or looks objects up by
// name (to_regclass, has_*_privilege, obj_description, ...).
//
// Several names are the functions PostgreSQL's grammar turns SQL-standard
// syntax into: extract, overlay, position, substring, btrim/ltrim/rtrim
// (TRIM), timezone (AT TIME ZONE), overlaps, normalize, is_normalized,
// like_escape (LIKE ... ESCAPE) and similar_to_escape (SIMILAR TO).
var allowedFunctions = []string{
	// strings and bytes
	"ascii", "bit_length", "btrim", "char_length", "character_length", "chr", "concat", "concat_ws",
	"convert_from", "convert_to", "decode", "encode", "format", "initcap", "is_normalized", "left",
	"length", "like_escape", "lower", "lpad", "ltrim", "md5", "normalize", "octet_length", "overlay",
	"position", "quote_ident", "quote_literal", "quote_nullable", "regexp_count", "regexp_instr",
	"regexp_like", "regexp_match", "regexp_matches", "regexp_replace", "regexp_split_to_array",
	"regexp_split_to_table", "regexp_substr", "repeat", "replace", "reverse", "right", "rpad", "rtrim",
	"sha224", "sha256", "sha384", "sha512", "similar_to_escape", "split_part", "starts_with",
	"string_to_array", "string_to_table", "strpos", "substr", "substring", "to_char", "to_date",
	"to_hex", "to_number", "to_timestamp", "translate", "unistr", "upper",
	// numbers
	"abs", "acos", "acosd", "acosh", "asin", "asind", "asinh", "atan", "atan2", "atan2d", "atand",
	"atanh", "cbrt", "ceil", "ceiling", "cos", "cosd", "cosh", "cot", "cotd", "degrees", "div", "exp",
	"factorial", "floor", "gcd", "lcm", "ln", "log", "log10", "min_scale", "mod", "pi", "power",
	"radians", "random", "round", "scale", "sign", "sin", "sind", "sinh", "sqrt", "tan", "tand", "tanh",
	"trim_scale", "trunc", "width_bucket",
	// dates and times
	"age", "clock_timestamp", "date_bin", "date_part", "date_trunc", "extract", "isfinite",
	"justify_days", "justify_hours", "justify_interval", "make_date", "make_interval", "make_time",
	"make_timestamp", "make_timestamptz", "now", "overlaps", "statement_timestamp", "timeofday",
	"timezone", "transaction_timestamp",
	// aggregates
	"array_agg", "avg", "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or", "corr", "count",
	"covar_pop", "covar_samp", "every", "json_agg", "json_object_agg", "jsonb_agg", "jsonb_object_agg",
	"max", "min", "mode", "percentile_cont", "percentile_disc", "stddev", "stddev_pop", "stddev_samp",
	"string_agg", "sum", "var_pop", "var_samp", "variance",
	// window functions (rank and its kin are hypothetical-set aggregates too)
	"cume_dist", "dense_rank", "first_value", "lag", "last_value", "lead", "nth_value", "ntile",
	"percent_rank", "rank", "row_number",
	// json and jsonb
	"array_to_json", "json_array_elements", "json_array_elements_text", "json_array_length",
	"json_build_array", "json_build_object", "json_each", "json_each_text", "json_extract_path",
	"json_extract_path_text", "json_object", "json_object_keys", "json_populate_record",
	"json_populate_recordset", "json_strip_nulls", "json_to_record", "json_to_recordset", "json_typeof",
	"jsonb_array_elements", "jsonb_array_elements_text", "jsonb_array_length", "jsonb_build_array",
	"jsonb_build_object", "jsonb_each", "jsonb_each_text", "jsonb_extract_path",
	"jsonb_extract_path_text", "jsonb_insert", "jsonb_object", "jsonb_object_keys", "jsonb_path_exists",
	"jsonb_path_match", "jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_first",
	"jsonb_populate_record", "jsonb_populate_recordset", "jsonb_pretty", "jsonb_set", "jsonb_set_lax",
	"jsonb_strip_nulls", "jsonb_to_record", "jsonb_to_recordset", "jsonb_typeof", "row_to_json",
	"to_json", "to_jsonb",
	// arrays and series
	"array_append", "array_cat", "array_dims", "array_fill", "array_length", "array_lower",
	"array_ndims", "array_position", "array_positions", "array_prepend", "array_remove",
	"array_replace", "array_to_string", "array_upper", "cardinality", "generate_series",
	"generate_subscripts", "trim_array", "unnest",
	// ranges
	"daterange", "int4range", "int8range", "isempty", "lower_inc", "lower_inf", "numrange",
	"range_merge", "tsrange", "tstzrange", "upper_inc", "upper_inf",
	// full text search
	"array_to_tsvector", "numnode", "phraseto_tsquery", "plainto_tsquery", "querytree", "setweight",
	"strip", "to_tsquery", "to_tsvector", "ts_delete", "ts_filter", "ts_headline", "ts_rank",
	"ts_rank_cd", "tsvector_to_array", "websearch_to_tsquery",
	// other
	"gen_random_uuid", "num_nonnulls", "num_nulls",
}

// allowedTypes are the pg_catalog types a plugin may name (casts, column
// types, record definitions), beside its own. The SQL-standard spellings
// (integer, double precision, timestamp with time zone, ...) are these
// under their catalog names.
var allowedTypes = []string{
	"bit", "bool", "bpchar", "bytea", "cidr", "date", "daterange", "float4", "float8", "inet", "int2",
	"int4", "int4range", "int8", "int8range", "interval", "json", "jsonb", "jsonpath", "macaddr",
	"macaddr8", "numeric", "numrange", "regconfig", "text", "time", "timestamp", "timestamptz",
	"timetz", "tsquery", "tsrange", "tstzrange", "tsvector", "uuid", "varbit", "varchar",
}

// serialTypes are allowed as column types only: they are not types but
// a column with a sequence of its own.
var serialTypes = []string{"bigserial", "serial", "serial2", "serial4", "serial8", "smallserial"}

// lookupTypes turn a name into a catalog object (regclass 'users' finds a
// table), so even a plugin that happened to be named after one does not get
// them. regconfig, a text search configuration, is allowed.
var lookupTypes = []string{
	"regclass", "regcollation", "regdictionary", "regnamespace", "regoper", "regoperator", "regproc",
	"regprocedure", "regrole", "regtype",
}

// systemColumns give away transaction ids, physical row addresses and
// table oids.
var systemColumns = []string{"cmax", "cmin", "ctid", "tableoid", "xmax", "xmin"}

// wholeRowFunctions are the pg_catalog functions that take a whole row:
// PostgreSQL reads t.f, and (expr).f, as f(t) when t has no column f, so
// these names are refused as fields as well as calls (pg_-prefixed fields
// are refused too).
var wholeRowFunctions = []string{
	"any_out", "anycompatible_out", "anycompatiblenonarray_out", "anyelement_out", "anynonarray_out",
	"hash_record", "record_out", "record_send",
}

// indexMethods are the built-in index access methods.
var indexMethods = []string{"brin", "btree", "gin", "gist", "hash", "spgist"}

// lookup makes a lookup table of lists.
func lookup(lists ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			m[s] = true
		}
	}
	return m
}

var (
	functionSet     = lookup(allowedFunctions)
	typeSet         = lookup(allowedTypes)
	columnTypeSet   = lookup(allowedTypes, serialTypes)
	lookupTypeSet   = lookup(lookupTypes)
	systemColumnSet = lookup(systemColumns)
	wholeRowSet     = lookup(wholeRowFunctions)
	indexMethodSet  = lookup(indexMethods)
)
