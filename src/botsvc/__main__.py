from botsvc.cli import main

raise SystemExit(main())
