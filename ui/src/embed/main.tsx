import { render } from 'preact';
import { parsePublicPath } from '../lib/paths';
import { EmbedApp } from './EmbedApp';
import '../styles.css';

render(<EmbedApp route={parsePublicPath(window.location.pathname)} />, document.getElementById('app')!);
