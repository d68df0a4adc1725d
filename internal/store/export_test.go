package store

import "database/sql"

// MigrateUpTo makes the Stores opened until restore is called apply the
// migrations up to version v only, as a binary of that version did.
func MigrateUpTo(v int) (restore func()) {
	all := migrations
	n := 0
	for n < len(all) && all[n].version <= v {
		n++
	}
	migrations = all[:n]
	return func() { migrations = all }
}

// MigrationVersions lists the version of every migration, in order.
func MigrationVersions() []int {
	v := make([]int, len(migrations))
	for i, m := range migrations {
		v[i] = m.version
	}
	return v
}

// SQL returns the Store's database handle.
func (s *Store) SQL() *sql.DB {
	db, err := s.db.DB()
	if err != nil {
		panic(err)
	}
	return db
}
