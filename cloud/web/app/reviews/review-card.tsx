import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ReviewJson } from '../api/types.js';
import { formatDuration, formatWhen, humanName } from '../format.js';
import { Link } from '../router.js';
import { reviewThumbnail } from './review-filters.js';

/** One review item: picture, what (labels) and where (camera, zones), when and how long, and its reviewed mark. */
export function ReviewCard({
  review,
  device,
  onReviewed,
}: {
  review: ReviewJson;
  device: string;
  onReviewed: (r: ReviewJson, reviewed: boolean) => void;
}): JSX.Element {
  const [broken, setBroken] = useState(false);
  const src = reviewThumbnail(review);
  const what = review.labels.map(humanName).join(', ');
  const action = review.reviewed ? 'Mark not reviewed' : 'Mark reviewed';
  return (
    <li class={`card${review.reviewed ? '' : ' card-unread'}`}>
      <Link href={`/review/${encodeURIComponent(review.id)}`} class="card-link" data-review-id={review.id}>
        {src && !broken ? (
          <img
            class="thumb"
            src={src}
            alt={`${what} on ${humanName(review.camera)}`}
            loading="lazy"
            onError={() => setBroken(true)}
          />
        ) : (
          <div class="thumb thumb-empty">{review.status === 'active' ? 'picture coming' : 'no picture'}</div>
        )}
        <div class="card-body">
          <p class="card-title">
            {!review.reviewed && <span class="unread-dot" aria-label="not reviewed" role="img" />}
            <span class="card-label">{what}</span>
            <span class="card-camera">{humanName(review.camera)}</span>
          </p>
          <p class="card-meta">
            <time dateTime={review.started_at}>{formatWhen(review.started_at)}</time>
            <span> · {review.status === 'active' ? 'ongoing' : formatDuration(review.duration_s)}</span>
            <span> · {device}</span>
          </p>
          <p class="card-tags">
            <span class={`chip chip-${review.severity}`}>{review.severity}</span>
            {review.objects.length > 1 && <span class="chip">{review.objects.length} objects</span>}
            {review.zones.map((z) => (
              <span key={z} class="chip">
                {humanName(z)}
              </span>
            ))}
          </p>
        </div>
      </Link>
      <div class="card-actions">
        <button
          type="button"
          class="button button-small button-quiet"
          onClick={() => onReviewed(review, !review.reviewed)}
          aria-label={`${action}: ${what} on ${humanName(review.camera)}`}
        >
          {review.reviewed ? 'Mark not reviewed' : 'Mark reviewed'}
        </button>
      </div>
    </li>
  );
}
