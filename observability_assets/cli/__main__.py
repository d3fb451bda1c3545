from observability_assets.cli import main

raise SystemExit(main())
