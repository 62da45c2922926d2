def test_full_materialization_of_bundled_samples(project, current_hour):
    result = project.materialize(current_hour)
    assert result.success
    assert project.query("SELECT count(*) FROM items")[0][0] == 322
