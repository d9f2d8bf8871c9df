package pluginhost

// The allow-lists, for the tests of package pluginhost_test (the database
// oracle grants exactly these).
var (
	AllowedFunctions = allowedFunctions
	AllowedTypes     = allowedTypes
)
