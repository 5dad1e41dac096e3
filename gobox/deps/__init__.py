"""gobox vendor: dependencies from git and hg at exact revisions, into vendor/ and gobox.lock."""
