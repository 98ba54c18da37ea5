// Package gen writes realistic test CSV files quickly: contact lists exported from another CRM
// (Contacts) and a shop's orders file (Orders), with the mapping files that import them
// (ContactsMapping, OrdersMapping).
//
// The benchmarks (`make bench`: validate at 1,000,000 rows, import and resume, memory growth)
// and the pipeline tests feed these files through the real reader, mapping and importer, so the
// data looks like what users have: Cyrillic names, phones written five different ways, e-mails
// with stray capitals and spaces, quoted cells holding the delimiter, optional cells left empty.
// The same seed always gives the same bytes, so a failing test can be reproduced.
//
// With Invalid(f) about f of the rows are broken in ways the mapping or the reader must catch
// (an e-mail without a domain, a date that does not exist, an unknown status, a missing cell);
// the rest are valid under the matching mapping.
package gen
