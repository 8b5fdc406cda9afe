// Package migration holds no code: its e2e tests (migration_e2e_test.go)
// are the standing suite of templates written for the stock amazon-ebs and
// ansible plugins, in the shapes public repositories use, migrated by the
// guide's renames and validated (one baked) with bakery; see
// docs/migrating-from-amazon-ebs.md.
package migration
