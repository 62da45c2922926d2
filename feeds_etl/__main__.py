from feeds_etl.cli import main

raise SystemExit(main())
