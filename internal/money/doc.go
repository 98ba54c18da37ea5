// Package money reads an amount of money the way people, spreadsheets and CRMs write it, and
// writes it back in the one form GetCourse's deal_cost takes ("9990.00").
//
// It is the single lenient reader of money in gcbatch. Two places need the same rules and used
// to have a reader each, which drifted apart:
//
//   - the mappings' money transform reads the cells of users' files ("9 990,00 ₽", "1,500.00",
//     "$12.5", "2490 руб.", "−500") and sends Format of what Parse read;
//   - settle (importer) reads a deal's cost both as the import sent it ("12000.00") and as the
//     deals export shows it ("12 000,00", grouped with spaces, NBSP or narrow NBSP) and compares
//     the two in kopecks; reading both with the transform's own rules means that what the
//     transform sent and what the service shows back are read the same way.
//
// # What is accepted
//
// Parse works in whole kopecks (int64), never floats. A cell may carry one currency sign or
// word at either end (₽, руб., р., RUB, $, USD, €, EUR…) and a sign ("-" or "−") before or after
// a leading currency sign. Spaces of any width (ordinary, NBSP, narrow NBSP, thin, figure…),
// tabs and apostrophes only ever group thousands. The decimal mark is told from a thousands
// separator the way a reader would: with both "," and "." the last one is the decimal mark; a
// mark repeated ("1.234.567") groups thousands; one mark once followed by exactly three digits
// after one to three leading digits ("1,500", "12.345") groups thousands, anything else
// ("1,5", "10.50", "12000,5", "0.500") is a decimal. Groups must be of three, because a wrong
// grouping ("12,345,67") usually means a misread decimal, and guessing would send a wrong
// amount. Trailing zeros beyond two decimal places are dropped ("12.3400" is 12.34); any other
// third decimal is refused: GetCourse keeps kopecks, and rounding someone's price silently is
// worse than saying so. Amounts of more than fifteen whole digits (or cells of more than 48
// digits and marks, leading zeros included) are refused, so that every amount Parse accepts
// fits an int64 in kopecks with room to multiply by a quantity.
//
// # What is not here, and why
//
// The exporter's --normalize keeps its own recogniser (exporter/normalize.go). Its job is the
// opposite of this one: to decide whether a text cell of an export IS money in the service's
// own "12 000,00" shape, and to leave everything else alone. Ids, phones ("8 900 123 45 67"),
// counts and dates look like amounts to a lenient reader, so there the exact shape is the point;
// it also runs on every cell of exports that move hundreds of thousands of rows a second, and it
// keeps the digits as written ("1 500" becomes "1500", not "1500.00").
//
// The simulator (getcourse/gcsim) has its own parser of deal_cost on purpose: it models what
// the real GetCourse server accepts, which is not our code. If it used this package, the tests
// would check gcbatch's reading of money against itself.
package money
